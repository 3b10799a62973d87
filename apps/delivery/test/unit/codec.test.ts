import { describe, expect, it } from '@jest/globals';
import type { CopyMeta } from '../../src/domain.js';
import { decodeMeta, decodeOutboxEntry, encodeMeta } from '../../src/store/codec.js';

const alice = { accountId: '3f0c2a5e-1111-4222-8333-444455556666', deviceId: 1 };
const bob = { accountId: '9f0c2a5e-1111-4222-8333-444455556666', deviceId: 4 };
const message: CopyMeta = {
  kind: 'message',
  sender: alice,
  clientMessageId: 'c-1|"x"',
  envelopeType: 2,
  acceptedAtMs: 123,
};

describe('stored meta codec', () => {
  it('round-trips message and receipt metas', () => {
    const receipt: CopyMeta = {
      kind: 'receipt',
      receipt: 'expired',
      clientMessageId: 'c-1',
      recipient: bob,
      copyServerId: 'id-1',
      atMs: 9,
    };
    expect(decodeMeta(encodeMeta(message))).toEqual(message);
    expect(decodeMeta(encodeMeta(receipt))).toEqual(receipt);
  });

  it('reads delivered and expired outbox entries, and rejects anything else', () => {
    const body = encodeMeta(message);
    expect(decodeOutboxEntry(bob, 'id-1', `d|${body}`)).toEqual({
      copyServerId: 'id-1',
      receipt: 'delivered',
      recipient: bob,
      original: message,
    });
    expect(decodeOutboxEntry(bob, 'id-1', `e|${body}`)?.receipt).toBe('expired');
    expect(decodeOutboxEntry(bob, 'id-1', `x|${body}`)).toBeUndefined();
    expect(decodeOutboxEntry(bob, 'id-1', 'e|{not json')).toBeUndefined();
    expect(decodeOutboxEntry(bob, 'id-1', '')).toBeUndefined();
  });
});
