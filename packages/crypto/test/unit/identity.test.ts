import { describe, expect, it } from '@jest/globals';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import {
  type AuthChallengeFields,
  authChallengeMessage,
  generateIdentity,
  identityPublicKey,
  sign,
  signAuthChallenge,
  toX25519PublicKey,
  toX25519SecretKey,
  verify,
  verifyAuthChallenge,
  verifySignature,
} from '../../src/identity.js';
import { verifyAuthChallengeFast, verifyEd25519 } from '../../src/node.js';
import { AUTH_CHALLENGE_PREFIX, SIGNED_PREKEY_PREFIX } from '../../src/prefixes.js';
import { ALICE, BOB, expectCryptoError, fromHex, hex, text } from '../helpers.js';

const fields = (): AuthChallengeFields => ({
  realm: 'chat.example.org',
  nonce: new Uint8Array(32).fill(7),
  timestampMs: 1_700_000_000_123,
  accountId: ALICE,
  deviceId: 2,
});

describe('identity keys', () => {
  it('generates Ed25519 key pairs and derives the public key from the seed', () => {
    const id = generateIdentity();
    expect(id.publicKey.length).toBe(32);
    expect(id.secretKey.length).toBe(32);
    expect(hex(identityPublicKey(id.secretKey))).toBe(hex(id.publicKey));
  });

  it('signs with a domain prefix; another prefix does not verify', () => {
    const id = generateIdentity();
    const sig = sign(id.secretKey, SIGNED_PREKEY_PREFIX, text('m'));
    expect(verify(id.publicKey, SIGNED_PREKEY_PREFIX, text('m'), sig)).toBe(true);
    expect(verify(id.publicKey, AUTH_CHALLENGE_PREFIX, text('m'), sig)).toBe(false);
    expect(verifySignature(id.publicKey, text('m'), sig)).toBe(false);
  });

  it('converts to X25519 consistently (birational map): both sides get the same DH', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    const ab = x25519.getSharedSecret(toX25519SecretKey(a.secretKey), toX25519PublicKey(b.publicKey));
    const ba = x25519.getSharedSecret(toX25519SecretKey(b.secretKey), toX25519PublicKey(a.publicKey));
    expect(hex(ab)).toBe(hex(ba));
    expect(hex(x25519.getPublicKey(toX25519SecretKey(a.secretKey)))).toBe(
      hex(toX25519PublicKey(a.publicKey)),
    );
  });
});

describe('auth challenge', () => {
  it('has a canonical encoding starting with its prefix', () => {
    const m = authChallengeMessage(fields());
    expect(hex(m.subarray(0, AUTH_CHALLENGE_PREFIX.length))).toBe(hex(AUTH_CHALLENGE_PREFIX));
    expect(m.length).toBe(AUTH_CHALLENGE_PREFIX.length + 1 + 16 + 32 + 8 + 16 + 4);
  });

  it('verifies (pure and node) and binds every field', () => {
    const id = generateIdentity();
    const sig = signAuthChallenge(id.secretKey, fields());
    expect(verifyAuthChallenge(id.publicKey, fields(), sig)).toBe(true);
    expect(verifyAuthChallengeFast(id.publicKey, fields(), sig)).toBe(true);
    const variants: Partial<AuthChallengeFields>[] = [
      { realm: 'evil.example.org' },
      { nonce: new Uint8Array(32).fill(8) },
      { timestampMs: 1_700_000_000_124 },
      { accountId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' },
      { deviceId: 3 },
    ];
    for (const v of variants) {
      expect(verifyAuthChallenge(id.publicKey, { ...fields(), ...v }, sig)).toBe(false);
      expect(verifyAuthChallengeFast(id.publicKey, { ...fields(), ...v }, sig)).toBe(false);
    }
  });

  it('asserts its inputs, naming the parameter', () => {
    const id = generateIdentity();
    expectCryptoError(
      () => signAuthChallenge(id.secretKey, { ...fields(), nonce: new Uint8Array(31) }),
      'INVALID_ARGUMENT',
      'fields.nonce',
    );
    expectCryptoError(
      () => authChallengeMessage({ ...fields(), accountId: BOB.toUpperCase() }),
      'INVALID_ARGUMENT',
      'fields.accountId',
    );
    expectCryptoError(
      () => authChallengeMessage({ ...fields(), deviceId: 0 }),
      'INVALID_ARGUMENT',
      'fields.deviceId',
    );
    expectCryptoError(
      () => authChallengeMessage({ ...fields(), timestampMs: -1 }),
      'INVALID_ARGUMENT',
      'fields.timestampMs',
    );
    expectCryptoError(
      () => authChallengeMessage({ ...fields(), realm: '' }),
      'INVALID_ARGUMENT',
      'fields.realm',
    );
    expectCryptoError(
      () => signAuthChallenge(new Uint8Array(64), fields()),
      'INVALID_ARGUMENT',
      'identitySecret',
    );
    expectCryptoError(
      () => verifyAuthChallenge(new Uint8Array(31), fields(), new Uint8Array(64)),
      'INVALID_ARGUMENT',
      'identityPublic',
    );
    expectCryptoError(
      () => verifySignature(id.publicKey, text('x'), new Uint8Array(63)),
      'INVALID_ARGUMENT',
      'signature',
    );
    expectCryptoError(
      () => verifySignature('nope' as unknown as Uint8Array, text('x'), new Uint8Array(64)),
      'INVALID_ARGUMENT',
      'publicKey',
    );
    expectCryptoError(
      () => verifyEd25519(id.publicKey, text('x'), new Uint8Array(65)),
      'INVALID_ARGUMENT',
      'signature',
    );
  });
});

describe('node fast path agrees with the pure path', () => {
  const both = (pk: Uint8Array, msg: Uint8Array, sig: Uint8Array) => {
    const pure = verifySignature(pk, msg, sig);
    expect(verifyEd25519(pk, msg, sig)).toBe(pure);
    return pure;
  };

  it('on random keys, messages and mutated signatures', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.nat(511),
        (seed, msg, bit) => {
          const pk = ed25519.getPublicKey(seed);
          const sig = ed25519.sign(msg, seed);
          expect(both(pk, msg, sig)).toBe(true);
          const bad = sig.slice();
          bad[bit >> 3]! ^= 1 << (bit & 7);
          both(pk, msg, bad);
          both(randomBytes(32), msg, sig);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('on edge cases: small-order keys, non-canonical keys, S >= L, torsion in R', () => {
    const seed = randomBytes(32);
    const msg = text('edge');
    const pk = ed25519.getPublicKey(seed);
    const sig = ed25519.sign(msg, seed);
    const L = ed25519.Point.Fn.ORDER;
    // S + L: same equation, non-canonical S; both must reject.
    const s = BigInt(`0x${hex(sig.slice(32).reverse())}`) + L;
    const sPlusL = sig.slice();
    sPlusL.set(fromHex(s.toString(16).padStart(64, '0')).reverse(), 32);
    expect(both(pk, msg, sPlusL)).toBe(false);
    // Small-order public keys with the identity R = [S]B trick; both must reject.
    const smallOrder = [
      '0100000000000000000000000000000000000000000000000000000000000000',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      '0000000000000000000000000000000000000000000000000000000000000080',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
      '0100000000000000000000000000000000000000000000000000000000000080',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map(fromHex);
    const s1 = ed25519.Point.BASE.multiply(5n).toBytes();
    const forged = new Uint8Array(64);
    forged.set(s1);
    forged[32] = 5;
    for (const key of smallOrder) expect(both(key, msg, forged)).toBe(false);
    // A torsion component added to R: the cofactored equation would accept; the rule rejects.
    const T = ed25519.Point.fromBytes(
      fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
    );
    const R = ed25519.Point.fromBytes(sig.slice(0, 32)).add(T).toBytes();
    const torsion = sig.slice();
    torsion.set(R);
    expect(both(pk, msg, torsion)).toBe(false);
    // A public key with a torsion component (mixed order): honest signature under it.
    const A = ed25519.Point.fromBytes(pk).add(T).toBytes();
    both(A, msg, sig);
  });
});
