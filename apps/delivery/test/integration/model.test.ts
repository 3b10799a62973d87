import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { DeviceAddress } from '../../src/domain.js';
import { account, send } from '../fixtures.js';
import { Harness, type Instance } from './harness.js';

const TTL = 10_000;
let h: Harness;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  h = await Harness.create();
  a = await h.instance({ copyTtlMs: TTL, sweepBatch: 3, outboxLeaseMs: 1000 });
  b = await h.instance({ copyTtlMs: TTL, sweepBatch: 3, outboxLeaseMs: 1000 });
});
afterAll(async () => {
  await h.close();
});

type Command =
  | { kind: 'send'; id: number; to: number[]; via: 0 | 1 }
  | { kind: 'ack'; device: number; n: number; via: 0 | 1 }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('send' as const),
    id: fc.integer({ min: 0, max: 15 }),
    to: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
    via: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.record({
    kind: fc.constant('ack' as const),
    device: fc.integer({ min: 0, max: 2 }),
    n: fc.integer({ min: 1, max: 4 }),
    via: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: TTL }) }),
  fc.record({ kind: fc.constant('sweep' as const) }),
);

const sweepAll = async (inst: Instance) => {
  for (let s = 0; s < inst.queues.shardCount; s++) await inst.service.sweepShard(s);
};

async function all(inst: Instance, device: DeviceAddress) {
  const out = [];
  let after = 0;
  for (;;) {
    const page = await inst.service.fetchPage(device, after, 50);
    out.push(...page.copies);
    after = page.cursor;
    if (!page.more) return out;
  }
}

describe('random interleavings of send, retry, ack, time and concurrent sweeps', () => {
  it('account for every accepted copy exactly once: acknowledged (delivered receipt) or expired (expired receipt), and leave no key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 40 }), async (commands) => {
        const [alice] = account(1);
        const bob = account(3);
        const inst = [a, b];
        /** client message id -> recipient device index -> server id (first answer). */
        const accepted = new Map<number, Map<number, string>>();
        const acked = new Set<string>();
        // The sender reads and acknowledges its receipts after every step (receipts have a TTL too).
        const receipts: { copyServerId: string; receipt: string }[] = [];
        const collect = async () => {
          const got = await all(a, alice!);
          for (const r of got) {
            if (r.meta.kind !== 'receipt') throw new Error('the sender got something other than receipts');
            receipts.push({ copyServerId: r.meta.copyServerId, receipt: r.meta.receipt });
          }
          if (got.length > 0)
            await a.service.ack(
              alice!,
              got.map((r) => r.serverId),
            );
        };
        for (const c of commands) {
          if (c.kind === 'send') {
            // A send to a recipient set is retried with the same set: a client message id is one send.
            const to = accepted.has(c.id) ? [...accepted.get(c.id)!.keys()] : c.to;
            const r = await inst[c.via]!.service.accept(
              send(
                alice!,
                to.map((i) => bob[i]!),
                `m${c.id}`,
              ),
            );
            const known = accepted.get(c.id);
            if (known) {
              // A retry returns the same ids, or new ones only for copies that are gone (acked/expired).
              r.copies.forEach((copy, k) => {
                const before = known.get(to[k]!)!;
                if (copy.serverId !== before) expect(copy.created).toBe(true);
              });
            } else {
              accepted.set(c.id, new Map(to.map((i, k) => [i, r.copies[k]!.serverId])));
            }
            for (const [k, copy] of r.copies.entries()) {
              if (copy.created && known) known.set(to[k]!, copy.serverId);
            }
          } else if (c.kind === 'ack') {
            const page = await inst[c.via]!.service.fetchPage(bob[c.device]!, 0, c.n);
            const ids = page.copies.map((p) => p.serverId);
            await inst[c.via]!.service.ack(bob[c.device]!, ids);
            for (const id of ids) acked.add(id);
          } else if (c.kind === 'advance') {
            h.clock.advance(c.ms);
          } else {
            await Promise.all([sweepAll(a), sweepAll(b)]);
          }
          await collect();
        }
        // Let everything left expire and be swept (twice, by both instances at once).
        h.clock.advance(TTL);
        await Promise.all([sweepAll(a), sweepAll(b)]);
        await Promise.all([sweepAll(b), sweepAll(a)]);
        for (const dev of bob) expect(await all(a, dev)).toEqual([]);
        await collect();

        const byCopy = new Map<string, string[]>();
        for (const r of receipts)
          byCopy.set(r.copyServerId, [...(byCopy.get(r.copyServerId) ?? []), r.receipt]);
        const everyCopy = new Set<string>([...acked]);
        // Copies stored but never acknowledged are in `accepted` (last id per device) or were
        // replaced by a retry after they expired; all of them must have exactly one receipt.
        for (const m of accepted.values()) for (const id of m.values()) everyCopy.add(id);
        for (const id of byCopy.keys()) everyCopy.add(id);
        for (const id of everyCopy) {
          expect(byCopy.get(id)).toEqual([acked.has(id) ? 'delivered' : 'expired']);
        }
        expect(await h.keys()).toEqual([]);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
