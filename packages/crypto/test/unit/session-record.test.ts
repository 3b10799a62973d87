import { describe, expect, it } from '@jest/globals';
import { decryptEnvelope, encryptForDevices } from '../../src/fanout.js';
import { serializeSession } from '../../src/ratchet.js';
import {
  decryptWithRecord,
  deserializeSessionRecord,
  EMPTY_SESSION_RECORD,
  MAX_PREVIOUS_SESSIONS,
  promoteSession,
  type SessionRecord,
  serializeSessionRecord,
} from '../../src/session-record.js';
import { ALICE, BOB, bundleOf, expectCryptoError, makeDevice, recipient, storeOf, text } from '../helpers.js';

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

function pair() {
  const alice = makeDevice(ALICE, 1, 8);
  const bob = makeDevice(BOB, 1, 8);
  const ctx = (d: typeof alice) => ({ identity: d.identity, registrationId: d.registrationId });
  return { alice, bob, ctx };
}

describe('session records', () => {
  it('keeps both sessions when two devices start one at the same moment, and every message decrypts', () => {
    const { alice, bob, ctx } = pair();
    // Both fetch the other's bundle and send before anything arrives.
    const a1 = encryptForDevices(ctx(alice), text('a1'), [recipient(bob, { bundle: bundleOf(bob) })])[0]!;
    const b1 = encryptForDevices(ctx(bob), text('b1'), [recipient(alice, { bundle: bundleOf(alice) })])[0]!;
    let aRec = promoteSession(EMPTY_SESSION_RECORD, a1.session);
    let bRec = promoteSession(EMPTY_SESSION_RECORD, b1.session);
    const aOut = decryptWithRecord(b1.envelope, {
      identity: alice.identity,
      senderIdentityKey: bob.identity.publicKey,
      record: aRec,
      prekeys: storeOf(alice),
    });
    const bOut = decryptWithRecord(a1.envelope, {
      identity: bob.identity,
      senderIdentityKey: alice.identity.publicKey,
      record: bRec,
      prekeys: storeOf(bob),
    });
    expect([decode(aOut.plaintext), decode(bOut.plaintext)]).toEqual(['b1', 'a1']);
    aRec = aOut.record;
    bRec = bOut.record;
    // Nothing was overwritten: each side holds both sessions.
    expect(aRec.previous).toHaveLength(1);
    expect(bRec.previous).toHaveLength(1);
    // Both chose the same PQXDH run (the smaller base key) as current.
    expect(aRec.current!.baseKey).toEqual(bRec.current!.baseKey);

    // From now on both send under the chosen session and each other's messages decrypt.
    for (let i = 0; i < 3; i++) {
      const fromA = encryptForDevices(ctx(alice), text(`a${i + 2}`), [
        recipient(bob, { session: aRec.current }),
      ])[0]!;
      aRec = promoteSession(aRec, fromA.session);
      const atB = decryptWithRecord(fromA.envelope, {
        identity: bob.identity,
        senderIdentityKey: alice.identity.publicKey,
        record: bRec,
        prekeys: storeOf(bob),
      });
      bRec = atB.record;
      expect(decode(atB.plaintext)).toBe(`a${i + 2}`);
      const fromB = encryptForDevices(ctx(bob), text(`b${i + 2}`), [
        recipient(alice, { session: bRec.current }),
      ])[0]!;
      bRec = promoteSession(bRec, fromB.session);
      const atA = decryptWithRecord(fromB.envelope, {
        identity: alice.identity,
        senderIdentityKey: bob.identity.publicKey,
        record: aRec,
        prekeys: storeOf(alice),
      });
      aRec = atA.record;
      expect(decode(atA.plaintext)).toBe(`b${i + 2}`);
    }
    expect(aRec.current!.baseKey).toEqual(bRec.current!.baseKey);
  });

  it('one session per remote device loses the overwritten side: the defect the record fixes', () => {
    const { alice, bob, ctx } = pair();
    const a1 = encryptForDevices(ctx(alice), text('a1'), [recipient(bob, { bundle: bundleOf(bob) })])[0]!;
    const b1 = encryptForDevices(ctx(bob), text('b1'), [recipient(alice, { bundle: bundleOf(alice) })])[0]!;
    // Bob keeps only the session Alice's prekey message created, replacing his own...
    const bobOnly = decryptEnvelope(a1.envelope, {
      identity: bob.identity,
      senderIdentityKey: alice.identity.publicKey,
      session: b1.session,
      prekeys: storeOf(bob),
    }).session;
    // ...while Alice, who received Bob's first, answers under Bob's session: Bob cannot read it.
    const aliceOnly = decryptEnvelope(b1.envelope, {
      identity: alice.identity,
      senderIdentityKey: bob.identity.publicKey,
      session: a1.session,
      prekeys: storeOf(alice),
    }).session;
    const reply = encryptForDevices(ctx(alice), text('a2'), [recipient(bob, { session: aliceOnly })])[0]!;
    expectCryptoError(
      () =>
        decryptEnvelope(reply.envelope, {
          identity: bob.identity,
          senderIdentityKey: alice.identity.publicKey,
          session: bobOnly,
        }),
      'DECRYPT_FAILED',
    );
  });

  it('a duplicate stays a duplicate, and a message under no held session fails without changing the record', () => {
    const { alice, bob, ctx } = pair();
    const a1 = encryptForDevices(ctx(alice), text('a1'), [recipient(bob, { bundle: bundleOf(bob) })])[0]!;
    const first = decryptWithRecord(a1.envelope, {
      identity: bob.identity,
      senderIdentityKey: alice.identity.publicKey,
      record: EMPTY_SESSION_RECORD,
      prekeys: storeOf(bob),
    });
    const reply = encryptForDevices(ctx(bob), text('b1'), [
      recipient(alice, { session: first.record.current }),
    ])[0]!;
    const aliceRec = decryptWithRecord(reply.envelope, {
      identity: alice.identity,
      senderIdentityKey: bob.identity.publicKey,
      record: promoteSession(EMPTY_SESSION_RECORD, a1.session),
    }).record;
    const a2 = encryptForDevices(ctx(alice), text('a2'), [recipient(bob, { session: aliceRec.current })])[0]!;
    const bobRec = promoteSession(first.record, reply.session);
    const ok = decryptWithRecord(a2.envelope, {
      identity: bob.identity,
      senderIdentityKey: alice.identity.publicKey,
      record: bobRec,
    });
    expect(decode(ok.plaintext)).toBe('a2');
    expectCryptoError(
      () =>
        decryptWithRecord(a2.envelope, {
          identity: bob.identity,
          senderIdentityKey: alice.identity.publicKey,
          record: ok.record,
        }),
      'DUPLICATE_MESSAGE',
    );
    expectCryptoError(
      () =>
        decryptWithRecord(a2.envelope, {
          identity: bob.identity,
          senderIdentityKey: alice.identity.publicKey,
          record: EMPTY_SESSION_RECORD,
        }),
      'NO_SESSION',
    );
  });

  it('keeps at most MAX_PREVIOUS_SESSIONS previous sessions, newest first', () => {
    const { alice, bob, ctx } = pair();
    let rec: SessionRecord = EMPTY_SESSION_RECORD;
    const made = [];
    for (let i = 0; i < MAX_PREVIOUS_SESSIONS + 3; i++) {
      const e = encryptForDevices(ctx(alice), text('x'), [
        recipient(bob, { bundle: bundleOf(bob, false) }),
      ])[0]!;
      made.push(e.session);
      rec = promoteSession(rec, e.session);
    }
    expect(rec.current).toBe(made.at(-1));
    expect(rec.previous).toHaveLength(MAX_PREVIOUS_SESSIONS);
    expect(rec.previous[0]).toBe(made.at(-2));
    // A newer state of the current run replaces it instead of pushing it down.
    const again = encryptForDevices(ctx(alice), text('y'), [recipient(bob, { session: rec.current })])[0]!;
    const next = promoteSession(rec, again.session);
    expect(next.current).toBe(again.session);
    expect(next.previous).toEqual(rec.previous);
  });

  it('serializes and parses a record, and reads a lone session stored before records existed', () => {
    const { alice, bob, ctx } = pair();
    const s1 = encryptForDevices(ctx(alice), text('x'), [recipient(bob, { bundle: bundleOf(bob) })])[0]!
      .session;
    const s2 = encryptForDevices(ctx(alice), text('x'), [
      recipient(bob, { bundle: bundleOf(bob, false) }),
    ])[0]!.session;
    const rec = promoteSession(promoteSession(EMPTY_SESSION_RECORD, s1), s2);
    const back = deserializeSessionRecord(serializeSessionRecord(rec));
    expect(serializeSession(back.current!)).toEqual(serializeSession(s2));
    expect(back.previous.map(serializeSession)).toEqual([serializeSession(s1)]);
    expect(deserializeSessionRecord(serializeSessionRecord(EMPTY_SESSION_RECORD))).toEqual(
      EMPTY_SESSION_RECORD,
    );
    const legacy = deserializeSessionRecord(serializeSession(s1));
    expect(serializeSession(legacy.current!)).toEqual(serializeSession(s1));
    expect(legacy.previous).toEqual([]);
    expectCryptoError(() => deserializeSessionRecord(Uint8Array.of(9, 0, 0)), 'UNSUPPORTED_VERSION');
    expectCryptoError(() => deserializeSessionRecord(Uint8Array.of(2, 4, 0)), 'BAD_FORMAT');
    expectCryptoError(() => deserializeSessionRecord(Uint8Array.of(2, 1, 0, 0, 0, 0, 9)), 'TRUNCATED');
  });
});
