// The Node backend of the ratchet's primitives (OpenSSL through node:crypto) computes the same
// bytes as the pure-JS default: it passes the self-check, reproduces the committed known answers,
// and sessions move between a Node device and a browser-like (pure-JS) device in either
// direction. The self-check itself catches wrong candidates.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { chacha20 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { decryptEnvelope, encryptForDevices } from '../../src/fanout.js';
import {
  activeRatchetPrimitives,
  checkRatchetPrimitives,
  nodeRatchetPrimitives,
  useNobleRatchetPrimitives,
  useNodeRatchetPrimitives,
} from '../../src/node.js';
import { noblePrimitives, type RatchetPrimitives } from '../../src/primitives.js';
import type { SessionState } from '../../src/ratchet.js';
import { ALICE, BOB, bundleOf, expectCryptoError, makeDevice, recipient, storeOf, text } from '../helpers.js';
import { computeKat } from '../kat/compute.js';

afterEach(() => useNobleRatchetPrimitives());

describe('ratchet primitives on node:crypto', () => {
  it('passes the self-check against RFC 8439 and @noble, and installs (idempotently)', () => {
    expect(checkRatchetPrimitives(nodeRatchetPrimitives)).toBeUndefined();
    expect(checkRatchetPrimitives(noblePrimitives)).toBeUndefined();
    expect(activeRatchetPrimitives()).toBe('noble');
    useNodeRatchetPrimitives();
    useNodeRatchetPrimitives();
    expect(activeRatchetPrimitives()).toBe('node:crypto');
    useNobleRatchetPrimitives();
    expect(activeRatchetPrimitives()).toBe('noble');
  });

  it('reproduces the committed known answers (test/kat/tandem-v1.json) byte for byte', () => {
    const expected = JSON.parse(readFileSync(new URL('../kat/tandem-v1.json', import.meta.url), 'utf8'));
    useNodeRatchetPrimitives();
    expect(JSON.parse(JSON.stringify(computeKat()))).toEqual(expected);
  });

  it('the self-check names what a wrong implementation gets wrong', () => {
    const swappedKdf: RatchetPrimitives = {
      ...noblePrimitives,
      kdfCk: (ck) => {
        const [next, message] = noblePrimitives.kdfCk(ck);
        return [message, next];
      },
    };
    expect(checkRatchetPrimitives(swappedKdf)).toBe('KDF_CK');
    const ignoresAd: RatchetPrimitives = {
      ...noblePrimitives,
      seal: (k, n, p) => noblePrimitives.seal(k, n, p, new Uint8Array(0)),
    };
    expect(checkRatchetPrimitives(ignoresAd)).toBe('RFC 8439 §2.8.2 seal');
    const wrongOpen: RatchetPrimitives = {
      ...noblePrimitives,
      open: (_k, _n, sealed) => sealed.slice(0, sealed.length - 16),
    };
    expect(checkRatchetPrimitives(wrongOpen)).toBe('RFC 8439 §2.8.2 open');
    // Decrypts (keystream from block 1, as RFC 8439 §2.8) but never checks the tag.
    const skipsTheTag: RatchetPrimitives = {
      ...noblePrimitives,
      open: (k, n, sealed) => chacha20(k, n, sealed.subarray(0, sealed.length - 16), undefined, 1),
    };
    expect(checkRatchetPrimitives(skipsTheTag)).toBe('a tampered tag was accepted');
    const dropsLastByte: RatchetPrimitives = {
      ...noblePrimitives,
      seal: (k, n, p, a) =>
        p.length === 7 ? noblePrimitives.seal(k, n, p.subarray(0, 6), a) : noblePrimitives.seal(k, n, p, a),
    };
    expect(checkRatchetPrimitives(dropsLastByte)).toBe('seal, 7 bytes');
    const throws: RatchetPrimitives = {
      ...noblePrimitives,
      kdfCk: () => {
        throw new Error('no HMAC here');
      },
    };
    expect(checkRatchetPrimitives(throws)).toBe('threw: no HMAC here');
  });

  it('rejects a candidate that is not a set of primitives, naming the parameter', () => {
    expectCryptoError(() => checkRatchetPrimitives(null as never), 'INVALID_ARGUMENT', 'candidate');
    expectCryptoError(
      () => checkRatchetPrimitives({ ...noblePrimitives, open: 'no' } as never),
      'INVALID_ARGUMENT',
      'candidate.open',
    );
  });

  it('rejects a tampered message with DECRYPT_FAILED, as the default does', () => {
    useNodeRatchetPrimitives();
    const alice = makeDevice(ALICE, 1);
    const bob = makeDevice(BOB, 1);
    const [first] = encryptForDevices({ identity: alice.identity, registrationId: 1 }, text('hi'), [
      recipient(bob, { bundle: bundleOf(bob) }),
    ]);
    const tampered = first!.envelope.slice();
    tampered[tampered.length - 3]! ^= 0x40;
    expectCryptoError(
      () =>
        decryptEnvelope(tampered, {
          identity: bob.identity,
          senderIdentityKey: alice.identity.publicKey,
          prekeys: storeOf(bob),
        }),
      'DECRYPT_FAILED',
    );
  });

  it('a conversation survives either side switching implementation at any message (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.string({ maxLength: 300 })), {
          minLength: 1,
          maxLength: 30,
        }),
        (steps) => {
          const alice = makeDevice(ALICE, 1);
          const bob = makeDevice(BOB, 2);
          let aliceSession: SessionState | undefined;
          let bobSession: SessionState | undefined;
          for (const [fromAlice, senderOnNode, body] of steps) {
            if (senderOnNode) useNodeRatchetPrimitives();
            else useNobleRatchetPrimitives();
            const [from, to] = fromAlice ? [alice, bob] : [bob, alice];
            const mine = fromAlice ? aliceSession : bobSession;
            if (!fromAlice && bobSession === undefined) continue; // Bob cannot speak first
            const [out] = encryptForDevices(
              { identity: from.identity, registrationId: from.registrationId },
              text(body),
              [recipient(to, { session: mine, bundle: bundleOf(to) })],
            );
            if (fromAlice) aliceSession = out!.session;
            else bobSession = out!.session;
            // The receiver runs the other implementation.
            if (senderOnNode) useNobleRatchetPrimitives();
            else useNodeRatchetPrimitives();
            const got = decryptEnvelope(out!.envelope, {
              identity: to.identity,
              senderIdentityKey: from.identity.publicKey,
              session: fromAlice ? bobSession : aliceSession,
              prekeys: storeOf(to),
            });
            expect(new TextDecoder().decode(got.plaintext)).toBe(body);
            if (fromAlice) bobSession = got.session;
            else aliceSession = got.session;
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
