/**
 * Node-only fast path (`@tandem/crypto/node`): Ed25519 verification through node:crypto (OpenSSL),
 * about 15x faster than pure JS. The only module of this package that imports node:crypto.
 *
 * It implements exactly the rule of `verifySignature` in identity.ts: OpenSSL checks S < L and the
 * cofactorless equation by comparing encodings (RFC 8032 §5.1.7); the two extra checks OpenSSL does
 * not make — a canonical public-key encoding and a public key not of small order — are done here
 * on the bytes first, so both paths accept and reject the same inputs.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { CryptoError } from './errors.js';
import { type AuthChallengeFields, authChallengeMessage } from './identity.js';
import { assertBytes, equalBytes, hexToBytes } from './utils.js';

/** DER SubjectPublicKeyInfo header for a raw Ed25519 key (RFC 8410 §4). */
const SPKI_PREFIX = hexToBytes('302a300506032b6570032100');

/**
 * Canonical encodings of the eight small-order points of edwards25519, plus the two "negative
 * zero" encodings of the x = 0 points (y = 1 and y = -1 with the sign bit set), which OpenSSL
 * decodes but RFC 8032 §5.1.3 rejects. Non-canonical encodings (y >= p) are rejected separately.
 */
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map(hexToBytes);

/** y (little-endian, sign bit masked) >= p = 2^255 - 19: a non-canonical encoding. */
function nonCanonicalY(key: Uint8Array): boolean {
  if (key[0]! < 0xed) return false;
  for (let i = 1; i < 31; i++) if (key[i] !== 0xff) return false;
  return (key[31]! & 0x7f) === 0x7f;
}

/** Verifies an Ed25519 signature over `message` with OpenSSL. Same accept/reject set as `verifySignature`. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes('publicKey', publicKey, 32);
  assertBytes('message', message);
  assertBytes('signature', signature, 64);
  if (nonCanonicalY(publicKey)) return false;
  for (const bad of SMALL_ORDER) if (equalBytes(publicKey, bad)) return false;
  const der = new Uint8Array(SPKI_PREFIX.length + 32);
  der.set(SPKI_PREFIX);
  der.set(publicKey, SPKI_PREFIX.length);
  try {
    const key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    return nodeVerify(null, message, key, signature);
  } catch (cause) {
    // OpenSSL rejects a public key that does not decode to a curve point; that is a `false`.
    if (cause instanceof Error) return false;
    throw new CryptoError('INVALID_ARGUMENT', 'unexpected failure verifying', { cause });
  }
}

/** `verifyAuthChallenge` on the fast path: verifies the bytes of `authChallengeMessage(fields)`. */
export function verifyAuthChallengeFast(
  identityPublic: Uint8Array,
  fields: AuthChallengeFields,
  signature: Uint8Array,
): boolean {
  assertBytes('identityPublic', identityPublic, 32);
  return verifyEd25519(identityPublic, authChallengeMessage(fields), signature);
}
