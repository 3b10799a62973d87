import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DeviceAddress, QueuedCopy } from '../../src/domain.js';
import { QueueFullError } from '../../src/errors.js';
import { messageIdemField } from '../../src/store/keys.js';
import { account, bytes, send } from '../fixtures.js';
import { Harness, type Instance } from './harness.js';

let h: Harness;
let d: Instance;

beforeAll(async () => {
  h = await Harness.create();
  d = await h.instance();
});
afterAll(async () => {
  await h.close();
});

/** Reads a device's whole queue in pages of `pageSize`. */
async function drain(inst: Instance, device: DeviceAddress, pageSize = 100): Promise<QueuedCopy[]> {
  const all: QueuedCopy[] = [];
  let after = 0;
  for (;;) {
    const page = await inst.service.fetchPage(device, after, pageSize);
    all.push(...page.copies);
    after = page.cursor;
    if (!page.more) return all;
  }
}

async function drainAndAck(inst: Instance, device: DeviceAddress, pageSize = 100): Promise<QueuedCopy[]> {
  const all: QueuedCopy[] = [];
  for (;;) {
    const page = await inst.service.fetchPage(device, 0, pageSize);
    if (page.copies.length === 0) return all;
    all.push(...page.copies);
    await inst.service.ack(
      device,
      page.copies.map((c) => c.serverId),
    );
  }
}

describe('accept, fetch in pages, ack', () => {
  it('10,000 copies accepted, read in pages and acknowledged (receipts too) leave no key behind', async () => {
    const [alice] = account(1);
    const bob = account(4);
    const sends = 2500;
    for (let i = 0; i < sends; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, k) => d.service.accept(send(alice!, bob, `m${i + k}`))),
      );
    }
    let delivered = 0;
    for (const dev of bob) {
      const copies = await drain(d, dev, 250);
      expect(copies).toHaveLength(sends);
      // In seq order, strictly increasing.
      for (let i = 1; i < copies.length; i++) expect(copies[i]!.seq).toBeGreaterThan(copies[i - 1]!.seq);
      const acked = await drainAndAck(d, dev, 250);
      delivered += acked.length;
    }
    expect(delivered).toBe(10_000);
    // Every acknowledged copy produced one delivered receipt to the sending device.
    const receipts = await drainAndAck(d, alice!, 500);
    expect(receipts).toHaveLength(10_000);
    expect(receipts.every((r) => r.meta.kind === 'receipt' && r.meta.receipt === 'delivered')).toBe(true);
    expect(new Set(receipts.map((r) => (r.meta.kind === 'receipt' ? r.meta.copyServerId : ''))).size).toBe(
      10_000,
    );
    expect(await h.keys()).toEqual([]);
  }, 120_000);

  it('delivers in order with per-device increasing seq, even after the queue emptied and was deleted', async () => {
    const [alice] = account(1);
    const [, bob2] = account(2);
    const first = (await d.service.accept(send(alice!, [bob2!], 'a'))).copies;
    await d.service.ack(bob2!, [first[0]!.serverId]);
    const second = (await d.service.accept(send(alice!, [bob2!], 'b'))).copies;
    expect(second[0]!.seq).toBeGreaterThan(first[0]!.seq);
    await drainAndAck(d, bob2!);
    await drainAndAck(d, alice!);
  });

  it("a device acknowledging another device's server id changes nothing; unknown ids are no-ops", async () => {
    const [alice] = account(1);
    const [b1, b2] = account(2);
    const stored = (await d.service.accept(send(alice!, [b1!, b2!], 'x'))).copies;
    const forB1 = stored.find((s) => s.recipient.deviceId === 1)!;
    expect(await d.service.ack(b2!, [forB1.serverId, 'no-such-id'])).toEqual({ removed: 0 });
    expect((await drain(d, b1!)).map((c) => c.serverId)).toEqual([forB1.serverId]);
    expect(await drain(d, b2!)).toHaveLength(1);
    // No receipt was queued by the no-op ack.
    expect(await drain(d, alice!)).toHaveLength(0);
    await drainAndAck(d, b1!);
    await drainAndAck(d, b2!);
    const receipts = await drainAndAck(d, alice!);
    expect(receipts.map((r) => r.meta.kind === 'receipt' && r.meta.recipient.deviceId).sort()).toEqual([
      1, 2,
    ]);
  });

  it('publishes each stored copy to its device, and the delivered receipt to the sending device', async () => {
    const [alice] = account(1);
    const bob = account(2);
    const before = d.publisher.published.length;
    const stored = (await d.service.accept(send(alice!, bob, 'pub'))).copies;
    const pushed = d.publisher.published.slice(before);
    expect(pushed.map((p) => p.copy.serverId).sort()).toEqual(stored.map((s) => s.serverId).sort());
    expect(pushed.every((p) => p.copy.meta.kind === 'message')).toBe(true);
    await d.service.ack(bob[0]!, [stored[0]!.serverId]);
    const receipt = d.publisher.published.at(-1)!;
    expect(receipt.device).toEqual(alice);
    expect(receipt.copy.meta).toMatchObject({
      kind: 'receipt',
      receipt: 'delivered',
      clientMessageId: 'pub',
    });
    await drainAndAck(d, bob[1]!);
    await drainAndAck(d, alice!);
  });
});

describe('idempotent accept', () => {
  it('a duplicate accept stores nothing new and returns the same ids', async () => {
    const [alice] = account(1);
    const bob = account(3);
    const firstResult = await d.service.accept(send(alice!, bob, 'dup'));
    const first = firstResult.copies;
    h.clock.advance(1000);
    const keysBefore = (await h.keys()).sort();
    const secondResult = await d.service.accept(send(alice!, bob, 'dup'));
    const second = secondResult.copies;
    expect(secondResult.serverTimestampMs).toBe(firstResult.serverTimestampMs);
    expect(second.map((s) => [s.serverId, s.seq])).toEqual(first.map((s) => [s.serverId, s.seq]));
    expect(first.every((s) => s.created)).toBe(true);
    expect(second.some((s) => s.created)).toBe(false);
    expect((await h.keys()).sort()).toEqual(keysBefore);
    for (const dev of bob) expect(await drain(d, dev)).toHaveLength(1);
    for (const dev of bob) await drainAndAck(d, dev);
    await drainAndAck(d, alice!);
  });

  it('a retry after a partial failure completes the set with the same ids for the copies already stored', async () => {
    const [alice] = account(1);
    const bob = account(4);
    const input = send(alice!, bob, 'partial');
    // Simulate an instance that stored two of the four copies and died before answering.
    const partial = await d.queues.store(
      input.copies.slice(0, 2).map((c, i) => ({
        recipient: c.recipient,
        idemField: messageIdemField(alice!, 'partial'),
        serverId: `pre-${i}`,
        meta: {
          kind: 'message',
          sender: alice!,
          clientMessageId: 'partial',
          envelopeType: 2,
          acceptedAtMs: 1,
        },
        payload: c.ciphertext,
        expiresAtMs: h.clock.now() + 1000_000,
        maxCopies: 0,
        maxBytes: 0,
      })),
    );
    expect(partial.map((p) => p.status)).toEqual(['stored', 'stored']);
    const retry = (await d.service.accept(input)).copies;
    expect(retry.map((r) => r.serverId).slice(0, 2)).toEqual(['pre-0', 'pre-1']);
    expect(retry.map((r) => r.created)).toEqual([false, false, true, true]);
    for (const dev of bob) {
      const q = await drain(d, dev);
      expect(q).toHaveLength(1);
      expect(q[0]!.payload).toEqual(bytes(`ct:partial:${dev.deviceId}`));
    }
    for (const dev of bob) await drainAndAck(d, dev);
    await drainAndAck(d, alice!);
  });
});

describe('per-device caps', () => {
  it('refuses with QUEUE_FULL once a device is at its copy cap, storing nothing for any device, losing nothing', async () => {
    const capped = await h.instance({ maxQueuedCopies: 3 });
    const [alice] = account(1);
    const [b1, b2] = account(2);
    // b1 gets 3 copies (at cap); b2 only 1.
    const ids: string[] = [];
    for (const m of ['1', '2'])
      ids.push((await capped.service.accept(send(alice!, [b1!], m))).copies[0]!.serverId);
    const third = (await capped.service.accept(send(alice!, [b1!, b2!], '3'))).copies;
    const err = await capped.service.accept(send(alice!, [b1!, b2!], '4')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    expect((err as QueueFullError).code).toBe('QUEUE_FULL');
    expect((err as QueueFullError).devices).toEqual([b1]);
    // Nothing of send 4 was stored for b2 either; everything before it is intact.
    expect((await drain(capped, b2!)).map((c) => c.serverId)).toEqual([third[1]!.serverId]);
    expect((await drain(capped, b1!)).map((c) => c.serverId)).toEqual([...ids, third[0]!.serverId]);
    // A retry of an already-stored send succeeds at the cap with the same ids.
    const retry = (await capped.service.accept(send(alice!, [b1!, b2!], '3'))).copies;
    expect(retry.map((r) => r.serverId)).toEqual(third.map((t) => t.serverId));
    // Acknowledging frees room.
    await capped.service.ack(b1!, [ids[0]!]);
    expect((await capped.service.accept(send(alice!, [b1!, b2!], '4'))).copies).toHaveLength(2);
    for (const dev of [b1!, b2!, alice!]) await drainAndAck(capped, dev);
  });

  it('refuses with QUEUE_FULL at the byte cap', async () => {
    const capped = await h.instance({ maxQueuedBytes: 40 });
    const [alice] = account(1);
    const [b1] = account(1);
    const input = (id: string) => ({
      sender: alice!,
      clientMessageId: id,
      copies: [{ recipient: b1!, envelopeType: 2, ciphertext: new Uint8Array(15).fill(7) }],
    });
    await capped.service.accept(input('a'));
    await capped.service.accept(input('b'));
    await expect(capped.service.accept(input('c'))).rejects.toBeInstanceOf(QueueFullError);
    expect(await drain(capped, b1!)).toHaveLength(2);
    for (const dev of [b1!, alice!]) await drainAndAck(capped, dev);
  });
});

describe('revocation', () => {
  it('deletes every key of the revoked device queue and its expiry-index entry, and nothing else', async () => {
    const [alice] = account(1);
    const [b1, b2] = account(2);
    for (const m of ['r1', 'r2', 'r3']) await d.service.accept(send(alice!, [b1!, b2!], m));
    const tag = `{q:${b2!.accountId}:${b2!.deviceId}}`;
    expect((await h.keys()).some((k) => k.includes(tag))).toBe(true);
    expect(await d.service.revokeDevice(b2!)).toBe(3);
    expect((await h.keys()).some((k) => k.includes(tag))).toBe(false);
    const shard = d.keys.shard(d.keys.shardOf(b2!)).due;
    expect(await h.redis.client.zscore(shard, `${b2!.accountId}:2`)).toBeNull();
    expect(await drain(d, b1!)).toHaveLength(3);
    await drainAndAck(d, b1!);
    await drainAndAck(d, alice!);
  });
});

describe('stale copies', () => {
  it('lists the oldest unexpired copies per device in seq order, at most `limit`, and skips expired ones', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    for (const m of ['s1', 's2', 's3']) await d.service.accept(send(alice!, [bob!], m));
    await new Promise((r) => setTimeout(r, 10));
    const all = await drain(d, bob!);
    const [first] = await d.service.staleCopies([bob!], 5, 2);
    expect(first?.copies).toEqual(all.slice(0, 2).map((c) => ({ serverId: c.serverId, seq: c.seq })));
    h.clock.advance(31 * 24 * 3600 * 1000); // past the copies' TTL, not yet swept
    expect(await d.service.staleCopies([bob!], 5, 2)).toEqual([]);
  });
});
