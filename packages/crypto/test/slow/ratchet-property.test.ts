// Property: two devices exchange thousands of messages with random interleaving, bounded
// reordering, drops and duplicates. Every delivered message decrypts exactly once to the right
// plaintext; every re-delivery fails with DUPLICATE_MESSAGE; no failure changes a session.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CryptoError } from '../../src/errors.js';
import { decryptEnvelope, encryptForDevices } from '../../src/fanout.js';
import type { SessionState } from '../../src/ratchet.js';
import { ALICE, BOB, bundleOf, makeDevice, storeOf, text } from '../helpers.js';

type Side = 'A' | 'B';
interface InFlight {
  envelope: Uint8Array;
  plaintext: string;
}
type Action =
  | { kind: 'burst'; from: Side; count: number }
  | { kind: 'deliver'; to: Side; pick: number }
  | { kind: 'drop'; to: Side; pick: number }
  | { kind: 'dup'; to: Side; pick: number };

const side = fc.constantFrom<Side>('A', 'B');
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('burst' as const),
      from: side,
      count: fc.integer({ min: 1, max: 25 }),
    }),
  },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('deliver' as const), to: side, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), to: side, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dup' as const), to: side, pick: fc.nat() }) },
);

const WINDOW = 40; // reordering bound: a message overtakes at most WINDOW-1 others

describe('Double Ratchet under a hostile network (fast-check)', () => {
  it('delivers every message exactly once, rejects every duplicate', () => {
    const a = makeDevice(ALICE, 1);
    const b = makeDevice(BOB, 2);
    let total = 0;
    fc.assert(
      fc.property(fc.array(action, { minLength: 150, maxLength: 300 }), (actions) => {
        const ctx = {
          A: { dev: a, peer: b, session: undefined as SessionState | undefined },
          B: { dev: b, peer: a, session: undefined as SessionState | undefined },
        };
        // Session setup: A's first (prekey) message reaches B.
        const first = encryptForDevices({ identity: a.identity, registrationId: 1 }, text('hello'), [
          { accountId: BOB, deviceId: 2, identityKey: b.identity.publicKey, bundle: bundleOf(b) },
        ])[0]!;
        ctx.A.session = first.session;
        const opened = decryptEnvelope(first.envelope, {
          identity: b.identity,
          senderIdentityKey: a.identity.publicKey,
          prekeys: storeOf(b),
        });
        ctx.B.session = opened.session;
        const inFlight: Record<Side, InFlight[]> = { A: [], B: [] }; // keyed by recipient
        const delivered: Record<Side, InFlight[]> = { A: [], B: [] };
        let seq = 0;
        const other = (s: Side): Side => (s === 'A' ? 'B' : 'A');

        for (const act of actions) {
          if (act.kind === 'burst') {
            const me = ctx[act.from];
            if (act.from === 'B' && me.session === undefined) continue;
            for (let i = 0; i < act.count; i++) {
              const plaintext = `${act.from}-${seq++}`;
              const [env] = encryptForDevices(
                { identity: me.dev.identity, registrationId: 1 },
                text(plaintext),
                [
                  {
                    accountId: me.peer.accountId,
                    deviceId: me.peer.deviceId,
                    identityKey: me.peer.identity.publicKey,
                    session: me.session,
                  },
                ],
              );
              me.session = env!.session;
              inFlight[other(act.from)].push({ envelope: env!.envelope, plaintext });
            }
            continue;
          }
          const queue = act.kind === 'dup' ? delivered[act.to] : inFlight[act.to];
          if (queue.length === 0) continue;
          const idx =
            act.kind === 'dup' ? act.pick % queue.length : act.pick % Math.min(queue.length, WINDOW);
          const msg = queue[idx]!;
          if (act.kind === 'drop') {
            queue.splice(idx, 1);
            continue;
          }
          const me = ctx[act.to];
          const decrypt = () =>
            decryptEnvelope(msg.envelope, {
              identity: me.dev.identity,
              senderIdentityKey: me.peer.identity.publicKey,
              session: me.session,
            });
          if (act.kind === 'dup') {
            let err: unknown;
            try {
              decrypt();
            } catch (e) {
              err = e;
            }
            expect(err).toBeInstanceOf(CryptoError);
            expect((err as CryptoError).code).toBe('DUPLICATE_MESSAGE');
            continue;
          }
          const out = decrypt();
          expect(new TextDecoder().decode(out.plaintext)).toBe(msg.plaintext);
          me.session = out.session;
          queue.splice(idx, 1);
          delivered[act.to].push(msg);
          total++;
        }
      }),
      { numRuns: 12 },
    );
    expect(total).toBeGreaterThan(1000);
  });
});
