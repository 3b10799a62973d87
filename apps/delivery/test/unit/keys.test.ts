import { describe, expect, it } from '@jest/globals';
import { KeySpace, messageIdemField, receiptIdemField } from '../../src/store/keys.js';

const tagOf = (key: string) => key.slice(key.indexOf('{'), key.indexOf('}') + 1);
const acc = '3f0c2a5e-1111-4222-8333-444455556666';

describe('KeySpace', () => {
  const ks = new KeySpace('p:', 16);

  it('puts every key of one device queue under one hash tag, with the prefix', () => {
    const q = ks.queue({ accountId: acc, deviceId: 3 });
    const keys = [q.order, q.expiry, q.data, q.outbox];
    expect(new Set(keys).size).toBe(4);
    expect(new Set(keys.map(tagOf))).toEqual(new Set([`{q:${acc}:3}`]));
    expect(keys.every((k) => k.startsWith('p:{'))).toBe(true);
  });

  it('gives different devices different tags', () => {
    expect(tagOf(ks.queue({ accountId: acc, deviceId: 1 }).order)).not.toBe(
      tagOf(ks.queue({ accountId: acc, deviceId: 2 }).order),
    );
  });

  it('maps a device to a stable shard within range, spreading devices over the shards', () => {
    const shards = new Set<number>();
    for (let i = 1; i <= 200; i++) {
      const s = ks.shardOf({ accountId: acc, deviceId: i });
      expect(s).toBe(ks.shardOf({ accountId: acc, deviceId: i }));
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(16);
      shards.add(s);
    }
    expect(shards.size).toBe(16);
    const sh = ks.shard(5);
    expect(tagOf(sh.due)).toBe('{x:5}');
    expect(tagOf(sh.lock)).toBe('{x:5}');
  });

  it('refuses tokens that could break out of the hash tag', () => {
    expect(() => ks.queue({ accountId: 'a}b', deviceId: 1 })).toThrow(TypeError);
    expect(() => ks.blob('x{y')).toThrow(TypeError);
    expect(() => new KeySpace('p:', 0)).toThrow(RangeError);
  });

  it('names idempotency fields by sender device and client message id, receipts by kind and copy', () => {
    expect(messageIdemField({ accountId: acc, deviceId: 2 }, 'm1')).toBe(`i:${acc}:2:m1`);
    expect(receiptIdemField('expired', 'c1')).toBe('i:r:expired:c1');
    expect(receiptIdemField('delivered', 'c1')).not.toBe(receiptIdemField('expired', 'c1'));
  });
});
