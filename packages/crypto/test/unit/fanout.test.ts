import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CryptoError } from '../../src/errors.js';
import { decryptEnvelope, encryptForDevices, readEnvelope } from '../../src/fanout.js';
import type { SessionState } from '../../src/ratchet.js';
import { ALICE, BOB, bundleOf, expectCryptoError, makeDevice, recipient, storeOf, text } from '../helpers.js';

const sender = makeDevice(ALICE, 1);
const senderCtx = { identity: sender.identity, registrationId: sender.registrationId };
const bobDevices = [1, 2, 3].map((id) => makeDevice(BOB, id));
const ownCompanion = makeDevice(ALICE, 2);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

describe('fan-out', () => {
  it('establishes sessions from bundles, then sends normal messages after a reply', () => {
    const targets = [...bobDevices, ownCompanion];
    const first = encryptForDevices(
      senderCtx,
      text('hi all'),
      targets.map((d, i) => recipient(d, { bundle: bundleOf(d, i % 2 === 0) })),
    );
    expect(first.map((e) => [e.deviceId, e.type, e.sessionCreated])).toEqual([
      [1, 1, true],
      [2, 1, true],
      [3, 1, true],
      [2, 1, true],
    ]);
    const senderSessions = new Map<string, SessionState>(
      first.map((e) => [`${e.accountId}/${e.deviceId}`, e.session]),
    );
    const receiverSessions = new Map<TestKey, SessionState>();
    type TestKey = string;
    first.forEach((env, i) => {
      const d = targets[i]!;
      expect(readEnvelope(env.envelope).prekeyHeader?.identityKey).toEqual(sender.identity.publicKey);
      const out = decryptEnvelope(env.envelope, {
        identity: d.identity,
        senderIdentityKey: sender.identity.publicKey,
        prekeys: storeOf(d),
      });
      expect(decode(out.plaintext)).toBe('hi all');
      expect(out.sessionCreated).toBe(true);
      expect(out.usedPrekeys?.pqLastResort).toBe(true);
      expect(out.usedPrekeys?.oneTimePrekeyId).toBe(i % 2 === 0 ? 100 : undefined);
      receiverSessions.set(`${d.accountId}/${d.deviceId}`, out.session);
    });
    // Still no reply: the next envelope to bob/1 is again a prekey message, which bob/1 routes to its session.
    const second = encryptForDevices(senderCtx, text('again'), [
      recipient(bobDevices[0]!, { session: senderSessions.get(`${BOB}/1`) }),
    ])[0]!;
    expect(second.type).toBe(1);
    const got = decryptEnvelope(second.envelope, {
      identity: bobDevices[0]!.identity,
      senderIdentityKey: sender.identity.publicKey,
      session: receiverSessions.get(`${BOB}/1`),
    });
    expect(decode(got.plaintext)).toBe('again');
    expect(got.sessionCreated).toBe(false);
    // bob/1 replies; after that, sender's envelopes to bob/1 are normal messages.
    const reply = encryptForDevices({ identity: bobDevices[0]!.identity, registrationId: 1 }, text('reply'), [
      { accountId: ALICE, deviceId: 1, identityKey: sender.identity.publicKey, session: got.session },
    ])[0]!;
    expect(reply.type).toBe(2);
    const r = decryptEnvelope(reply.envelope, {
      identity: sender.identity,
      senderIdentityKey: bobDevices[0]!.identity.publicKey,
      session: second.session,
    });
    expect(decode(r.plaintext)).toBe('reply');
    const third = encryptForDevices(senderCtx, text('normal'), [
      recipient(bobDevices[0]!, { session: r.session }),
    ])[0]!;
    expect(third.type).toBe(2);
    expect(
      decode(
        decryptEnvelope(third.envelope, {
          identity: bobDevices[0]!.identity,
          senderIdentityKey: sender.identity.publicKey,
          session: reply.session,
        }).plaintext,
      ),
    ).toBe('normal');
  });

  it('rejects identity mismatches, missing sessions and missing prekeys, all-or-nothing', () => {
    const d = bobDevices[1]!;
    expectCryptoError(() => encryptForDevices(senderCtx, text('x'), [recipient(d)]), 'NO_SESSION');
    expectCryptoError(
      () =>
        encryptForDevices(senderCtx, text('x'), [
          recipient(d, { bundle: { ...bundleOf(bobDevices[2]!), deviceId: 2 } }),
        ]),
      'IDENTITY_MISMATCH',
    );
    expectCryptoError(
      () =>
        encryptForDevices(senderCtx, text('x'), [
          recipient(d, { bundle: bundleOf(d) }),
          recipient(d, { bundle: bundleOf(d) }),
        ]),
      'INVALID_ARGUMENT',
      'devices[1]',
    );
    const env = encryptForDevices(senderCtx, text('x'), [recipient(d, { bundle: bundleOf(d) })])[0]!;
    expectCryptoError(
      () =>
        decryptEnvelope(env.envelope, {
          identity: d.identity,
          senderIdentityKey: ownCompanion.identity.publicKey,
          prekeys: storeOf(d),
        }),
      'IDENTITY_MISMATCH',
    );
    expectCryptoError(
      () =>
        decryptEnvelope(env.envelope, {
          identity: d.identity,
          senderIdentityKey: sender.identity.publicKey,
          prekeys: { ...storeOf(d), oneTimePrekey: () => undefined },
        }),
      'MISSING_PREKEY',
    );
    expectCryptoError(
      () =>
        decryptEnvelope(env.envelope, {
          identity: d.identity,
          senderIdentityKey: sender.identity.publicKey,
          prekeys: {
            ...storeOf(d),
            signedPrekey: () => {
              throw new Error('db down');
            },
          },
        }),
      'MISSING_PREKEY',
    );
    expectCryptoError(
      () => encryptForDevices(senderCtx, 'text' as unknown as Uint8Array, []),
      'INVALID_ARGUMENT',
      'plaintext',
    );
  });

  it('any single bit flip of an envelope fails with CryptoError and changes nothing', () => {
    const d = bobDevices[2]!;
    const prekeyEnv = encryptForDevices(senderCtx, text('flip me'), [
      recipient(d, { bundle: bundleOf(d, false) }),
    ])[0]!;
    const ctx = { identity: d.identity, senderIdentityKey: sender.identity.publicKey, prekeys: storeOf(d) };
    const opened = decryptEnvelope(prekeyEnv.envelope, ctx);
    // a normal envelope: reply from d, decrypted by sender
    const normal = encryptForDevices({ identity: d.identity, registrationId: 9 }, text('normal flip'), [
      { accountId: ALICE, deviceId: 1, identityKey: sender.identity.publicKey, session: opened.session },
    ])[0]!;
    const sctx = {
      identity: sender.identity,
      senderIdentityKey: d.identity.publicKey,
      session: prekeyEnv.session,
    };
    expect(decode(decryptEnvelope(normal.envelope, sctx).plaintext)).toBe('normal flip');
    const check = (envelope: Uint8Array, c: Parameters<typeof decryptEnvelope>[1], bit: number) => {
      const bad = envelope.slice();
      const i = bit % (bad.length * 8);
      bad[i >> 3]! ^= 1 << (i & 7);
      expect(() => decryptEnvelope(bad, c)).toThrow(CryptoError);
    };
    fc.assert(
      fc.property(fc.nat(), (bit) => check(normal.envelope, sctx, bit)),
      { numRuns: 200 },
    );
    // prekey envelopes: each flip may re-run PQXDH (~10 ms), so fewer runs, plus every header field boundary.
    fc.assert(
      fc.property(fc.nat(), (bit) => check(prekeyEnv.envelope, ctx, bit)),
      { numRuns: 8 },
    );
    for (const byte of [0, 1, 2, 33, 37, 70, 75, 80, 1170, 1200, prekeyEnv.envelope.length - 1]) {
      check(prekeyEnv.envelope, ctx, byte * 8);
    }
    // the session is untouched: the genuine envelope still decrypts
    expect(decode(decryptEnvelope(normal.envelope, sctx).plaintext)).toBe('normal flip');
  });
});
