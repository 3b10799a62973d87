import { describe, expect, it } from '@jest/globals';
import {
  createInitiatorSession,
  createResponderSession,
  deserializeSession,
  MAX_SKIP,
  ratchetDecrypt,
  ratchetEncrypt,
  ratchetEncryptPrefixed,
  type SessionState,
  serializeSession,
} from '../../src/ratchet.js';
import {
  decodePrekeyHeader,
  encodePrekeyHeader,
  initiateSession,
  respondToSession,
} from '../../src/session.js';
import { ALICE, BOB, bundleOf, expectCryptoError, hex, makeDevice, text } from '../helpers.js';

const alice = makeDevice(ALICE, 1);
const bob = makeDevice(BOB, 1);

function pair(withOneTime = true): { a: SessionState; b: SessionState; first: Uint8Array } {
  const setup = initiateSession(alice.identity, alice.registrationId, bundleOf(bob, withOneTime));
  const h = setup.header;
  const responded = respondToSession(
    bob.identity,
    {
      signedPrekey: bob.signedPrekey,
      oneTimePrekey: h.oneTimePrekeyId === undefined ? undefined : bob.oneTimePrekeys.get(h.oneTimePrekeyId),
      pqPrekey: bob.pqPrekeys.get(h.pqPrekeyId)!,
    },
    h,
  );
  expect(hex(responded.sharedKey)).toBe(hex(setup.sharedKey));
  expect(hex(responded.associatedData)).toBe(hex(setup.associatedData));
  let a = createInitiatorSession(setup);
  const enc = ratchetEncrypt(a, text('hello bob'));
  a = enc.state;
  const b0 = createResponderSession(responded, h, bob.signedPrekey);
  const dec = ratchetDecrypt(b0, enc.message);
  expect(new TextDecoder().decode(dec.plaintext)).toBe('hello bob');
  return { a, b: dec.state, first: enc.message };
}

describe('PQXDH session setup (PQXDH §3.3-3.4)', () => {
  it('both sides derive the same SK and AD, with a one-time prekey', () => {
    pair(true);
  });

  it('and without one', () => {
    pair(false);
  });

  it('a different PQ ciphertext gives a different SK (implicit rejection)', () => {
    const setup = initiateSession(alice.identity, alice.registrationId, bundleOf(bob, false));
    const ct = setup.header.kemCiphertext.slice();
    ct[0]! ^= 1;
    const responded = respondToSession(
      bob.identity,
      { signedPrekey: bob.signedPrekey, pqPrekey: [...bob.pqPrekeys.values()][0]! },
      { ...setup.header, kemCiphertext: ct },
    );
    expect(hex(responded.sharedKey)).not.toBe(hex(setup.sharedKey));
  });

  it('round-trips the prekey header encoding', () => {
    const setup = initiateSession(alice.identity, alice.registrationId, bundleOf(bob));
    const bytes = encodePrekeyHeader(setup.header);
    expect(encodePrekeyHeader(decodePrekeyHeader(bytes))).toEqual(bytes);
  });

  it('reports a missing one-time prekey', () => {
    const setup = initiateSession(alice.identity, alice.registrationId, bundleOf(bob));
    expectCryptoError(
      () =>
        respondToSession(
          bob.identity,
          { signedPrekey: bob.signedPrekey, pqPrekey: [...bob.pqPrekeys.values()][0]! },
          setup.header,
        ),
      'MISSING_PREKEY',
    );
  });
});

describe('Double Ratchet', () => {
  it('exchanges messages both ways with DH ratchet steps', () => {
    let { a, b } = pair();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        const e = ratchetEncrypt(b, text(`b${round}${i}`));
        b = e.state;
        const d = ratchetDecrypt(a, e.message);
        a = d.state;
        expect(new TextDecoder().decode(d.plaintext)).toBe(`b${round}${i}`);
      }
      const e = ratchetEncrypt(a, text(`a${round}`));
      a = e.state;
      const d = ratchetDecrypt(b, e.message);
      b = d.state;
      expect(new TextDecoder().decode(d.plaintext)).toBe(`a${round}`);
    }
    expect(a.pendingPrekey).toBeNull();
  });

  it('lays a message out as header (40) || random 12-byte nonce || ciphertext || tag, nonces never repeating', () => {
    let { a, b } = pair();
    const nonces = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const e = ratchetEncrypt(a, text('x'.repeat(i % 50)));
      a = e.state;
      expect(e.message.length).toBe(40 + 12 + (i % 50) + 16);
      nonces.add(hex(e.message.subarray(40, 52)));
      if (i % 400 === 0) b = ratchetDecrypt(b, e.message).state; // still decrypts
    }
    expect(nonces.size).toBe(2000);
  });

  it('ratchetEncryptPrefixed returns prefix || message, with the prefix authenticated', () => {
    const { a, b } = pair();
    const prefix = Uint8Array.of(1, 2, 3);
    const out = ratchetEncryptPrefixed(a, text('prefixed'), prefix);
    expect(hex(out.bytes.subarray(0, 3))).toBe('010203');
    const message = out.bytes.subarray(3);
    expect(new TextDecoder().decode(ratchetDecrypt(b, message, prefix).plaintext)).toBe('prefixed');
    expectCryptoError(() => ratchetDecrypt(b, message, Uint8Array.of(1, 2, 4)), 'DECRYPT_FAILED');
    expectCryptoError(() => ratchetDecrypt(b, message), 'DECRYPT_FAILED');
    // Bad input is named by the caller's parameter.
    expectCryptoError(() => ratchetEncrypt(a, text('x'), 'ad' as never), 'INVALID_ARGUMENT', 'extraAd');
    expectCryptoError(() => ratchetEncryptPrefixed(a, text('x'), [1] as never), 'INVALID_ARGUMENT', 'prefix');
  });

  it('handles out-of-order messages across chains and rejects duplicates', () => {
    let { a, b } = pair();
    const m: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const e = ratchetEncrypt(a, text(`x${i}`));
      a = e.state;
      m.push(e.message);
    }
    // b replies (new chain for a), then a sends on a new chain
    const r = ratchetEncrypt(b, text('reply'));
    b = r.state;
    a = ratchetDecrypt(a, r.message).state;
    const late = ratchetEncrypt(a, text('new chain'));
    a = late.state;
    b = ratchetDecrypt(b, late.message).state; // skips x0..x2 of the old chain
    for (const i of [2, 0, 1]) {
      const d = ratchetDecrypt(b, m[i]!);
      expect(new TextDecoder().decode(d.plaintext)).toBe(`x${i}`);
      b = d.state;
    }
    expectCryptoError(() => ratchetDecrypt(b, m[1]!), 'DUPLICATE_MESSAGE');
    expectCryptoError(() => ratchetDecrypt(b, late.message), 'DUPLICATE_MESSAGE');
    expect(b.skippedKeys.size).toBe(0);
  });

  it('bounds skipping with MAX_SKIP', () => {
    let { a, b } = pair();
    let last: Uint8Array | undefined;
    for (let i = 0; i < MAX_SKIP + 2; i++) {
      const e = ratchetEncrypt(a, text('.'));
      a = e.state;
      last = e.message;
    }
    expectCryptoError(() => ratchetDecrypt(b, last!), 'TOO_MANY_SKIPPED');
  });

  it('a failed decrypt leaves the state unchanged', () => {
    let { a, b } = pair();
    const e = ratchetEncrypt(a, text('payload'));
    a = e.state;
    const before = serializeSession(b);
    const bad = e.message.slice();
    bad[bad.length - 1]! ^= 1;
    expectCryptoError(() => ratchetDecrypt(b, bad), 'DECRYPT_FAILED');
    expect(hex(serializeSession(b))).toBe(hex(before));
    expect(new TextDecoder().decode(ratchetDecrypt(b, e.message).plaintext)).toBe('payload');
  });

  it('serializes and restores state, rejecting unknown versions and garbage', () => {
    let { a, b } = pair();
    const e1 = ratchetEncrypt(a, text('1'));
    const e2 = ratchetEncrypt(e1.state, text('2'));
    a = e2.state;
    b = ratchetDecrypt(b, e2.message).state; // leaves a skipped key for e1
    const restored = deserializeSession(serializeSession(b));
    expect(hex(serializeSession(restored))).toBe(hex(serializeSession(b)));
    expect(new TextDecoder().decode(ratchetDecrypt(restored, e1.message).plaintext)).toBe('1');
    const aBytes = serializeSession(a);
    expect(aBytes[0]).toBe(1);
    const v2 = aBytes.slice();
    v2[0] = 2;
    expectCryptoError(() => deserializeSession(v2), 'UNSUPPORTED_VERSION');
    expectCryptoError(() => deserializeSession(aBytes.subarray(0, 100)), 'TRUNCATED');
    expectCryptoError(() => deserializeSession(new Uint8Array([...aBytes, 0])), 'BAD_FORMAT');
    expectCryptoError(() => ratchetEncrypt({ ...a } as SessionState, text('x')), 'INVALID_ARGUMENT', 'state');
  });
});
