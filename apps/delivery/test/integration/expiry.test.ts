import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DeviceAddress, QueuedCopy } from '../../src/domain.js';
import { Sweeper } from '../../src/service/sweeper.js';
import { account, send } from '../fixtures.js';
import { Harness, type Instance } from './harness.js';

const TTL = 60_000;
let h: Harness;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  h = await Harness.create();
  // Two delivery instances on the same Redis (separate connections), sharing the test clock.
  a = await h.instance({ copyTtlMs: TTL, outboxLeaseMs: 5_000, sweepBatch: 7 });
  b = await h.instance({ copyTtlMs: TTL, outboxLeaseMs: 5_000, sweepBatch: 7 });
});
afterAll(async () => {
  await h.close();
});

async function drain(inst: Instance, device: DeviceAddress): Promise<QueuedCopy[]> {
  const all: QueuedCopy[] = [];
  let after = 0;
  for (;;) {
    const page = await inst.service.fetchPage(device, after, 100);
    all.push(...page.copies);
    after = page.cursor;
    if (!page.more) return all;
  }
}

async function ackAll(inst: Instance, device: DeviceAddress): Promise<void> {
  const copies = await drain(inst, device);
  if (copies.length > 0)
    await inst.service.ack(
      device,
      copies.map((c) => c.serverId),
    );
}

const sweepAll = async (inst: Instance) => {
  let n = 0;
  for (let s = 0; s < inst.queues.shardCount; s++) n += await inst.service.sweepShard(s);
  return n;
};

describe('TTL expiry', () => {
  it('an expired copy is not delivered, and yields exactly one expired receipt with two instances sweeping at once', async () => {
    const [alice] = account(1);
    const bob = account(3);
    const sends = 20;
    const stored = [];
    for (let i = 0; i < sends; i++)
      stored.push(...(await a.service.accept(send(alice!, bob, `e${i}`))).copies);
    h.clock.advance(TTL - 1);
    expect(await sweepAll(a)).toBe(0);
    expect(await drain(a, bob[0]!)).toHaveLength(sends);
    h.clock.advance(1);
    // Past the TTL: no longer handed out even before a sweep.
    expect(await drain(a, bob[0]!)).toHaveLength(0);

    // Both instances sweep every shard concurrently, twice over, bypassing the shard locks.
    const counts = await Promise.all([sweepAll(a), sweepAll(b), sweepAll(b), sweepAll(a)]);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(sends * bob.length);

    const receipts = await drain(a, alice!);
    expect(receipts).toHaveLength(sends * bob.length);
    const about = receipts.map((r) => {
      if (r.meta.kind !== 'receipt') throw new Error('not a receipt');
      expect(r.meta.receipt).toBe('expired');
      return `${r.meta.clientMessageId}/${r.meta.recipient.deviceId}/${r.meta.copyServerId}`;
    });
    expect(new Set(about).size).toBe(sends * bob.length);
    expect(new Set(receipts.map((r) => (r.meta.kind === 'receipt' ? r.meta.copyServerId : '')))).toEqual(
      new Set(stored.map((s) => s.serverId)),
    );
    for (const dev of bob) expect(await drain(a, dev)).toHaveLength(0);
    await ackAll(a, alice!);
    expect(await h.keys()).toEqual([]);
  });

  it('two Sweepers (with shard locks) at once also yield one receipt per expired copy', async () => {
    const [alice] = account(1);
    const bobs = Array.from({ length: 10 }, () => account(2)).flat();
    for (const dev of bobs) await a.service.accept(send(alice!, [dev], `s-${dev.accountId}-${dev.deviceId}`));
    h.clock.advance(TTL);
    const opts = { intervalMs: 60_000, lockTtlMs: 10_000 };
    const sa = new Sweeper(a.service, a.queues, { ...opts, token: 'a' });
    const sb = new Sweeper(b.service, b.queues, { ...opts, token: 'b' });
    let total = 0;
    for (let round = 0; round < 3; round++) {
      const [x, y] = await Promise.all([sa.sweepOnce(), sb.sweepOnce()]);
      total += x + y;
    }
    expect(total).toBe(bobs.length);
    const receipts = await drain(a, alice!);
    expect(receipts).toHaveLength(bobs.length);
    await ackAll(a, alice!);
    expect(await h.keys()).toEqual([]);
  });

  it('receipts left in the outbox by an instance that died mid-sweep are queued once by another after the lease', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    await a.service.accept(send(alice!, [bob!], 'crash'));
    h.clock.advance(TTL);
    // Instance a moves the copy to the outbox, then "dies" before queuing the receipt.
    const moved = await a.queues.expire(bob!, h.clock.now(), 10, h.clock.now() + 5_000);
    expect(moved.pending).toHaveLength(1);
    // Within the lease nobody else takes it.
    expect(await sweepAll(b)).toBe(0);
    expect(await drain(b, alice!)).toHaveLength(0);
    h.clock.advance(5_000);
    await Promise.all([sweepAll(a), sweepAll(b)]);
    const receipts = await drain(b, alice!);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]!.meta).toMatchObject({
      kind: 'receipt',
      receipt: 'expired',
      clientMessageId: 'crash',
    });
    await ackAll(b, alice!);
    expect(await h.keys()).toEqual([]);
  });

  it('a receipt that expires is dropped without a receipt about it', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    const [copy] = (await a.service.accept(send(alice!, [bob!], 'r'))).copies;
    await a.service.ack(bob!, [copy!.serverId]);
    expect(await drain(a, alice!)).toHaveLength(1);
    h.clock.advance(TTL);
    expect(await sweepAll(a)).toBe(1);
    expect(await drain(a, alice!)).toHaveLength(0);
    expect(await drain(a, bob!)).toHaveLength(0);
    expect(await h.keys()).toEqual([]);
  });

  it('skips expired (not yet swept) copies without producing short or empty pages', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    for (let i = 0; i < 5; i++) await a.service.accept(send(alice!, [bob!], `old${i}`));
    h.clock.advance(TTL / 2);
    for (let i = 0; i < 3; i++) await a.service.accept(send(alice!, [bob!], `new${i}`));
    h.clock.advance(TTL / 2);
    const page = await a.service.fetchPage(bob!, 0, 2);
    expect(page.copies.map((c) => c.meta.kind === 'message' && c.meta.clientMessageId)).toEqual([
      'new0',
      'new1',
    ]);
    expect(page.more).toBe(true);
    const rest = await a.service.fetchPage(bob!, page.copies[1]!.seq, 2);
    expect(rest.copies.map((c) => c.meta.kind === 'message' && c.meta.clientMessageId)).toEqual(['new2']);
    expect(rest.more).toBe(false);
    expect(await sweepAll(a)).toBe(5);
    expect(await drain(a, alice!)).toHaveLength(5);
    await ackAll(a, alice!);
    h.clock.advance(TTL);
    expect(await sweepAll(a)).toBe(3);
    expect(await drain(a, alice!)).toHaveLength(3);
    await ackAll(a, alice!);
    expect(await h.keys()).toEqual([]);
  });

  it('copies not yet due stay queued and indexed after a sweep of the device', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    await a.service.accept(send(alice!, [bob!], 'old'));
    h.clock.advance(TTL / 2);
    await a.service.accept(send(alice!, [bob!], 'new'));
    h.clock.advance(TTL / 2);
    expect(await sweepAll(b)).toBe(1);
    expect((await drain(a, bob!)).map((c) => c.meta.kind === 'message' && c.meta.clientMessageId)).toEqual([
      'new',
    ]);
    h.clock.advance(TTL / 2);
    expect(await sweepAll(b)).toBe(1);
    expect(await drain(a, alice!)).toHaveLength(2);
    await ackAll(a, alice!);
    expect(await h.keys()).toEqual([]);
  });
});
