/**
 * Node-only fast paths (`@tandem/crypto/node`), through node:crypto (OpenSSL). The only module of
 * this package that imports node:crypto; nothing in the core depends on it.
 *
 * 1. `useNodeRatchetPrimitives()`: the Double Ratchet's per-message KDF_CK (HMAC-SHA256) and AEAD
 *    (ChaCha20-Poly1305) on OpenSSL, 1.4-2x the fan-out rate of @noble for 200-byte messages. It is
 *    installed only after it reproduces RFC 8439 §2.8.2 and the @noble implementations byte for
 *    byte, so sessions and envelopes are interchangeable between Node and browser devices.
 *
 * 2. `verifyEd25519` / `verifyAuthChallengeFast`: Ed25519 verification, about 15x faster than
 *    pure JS.
 *
 * It implements exactly the rule of `verifySignature` in identity.ts: OpenSSL checks S < L and the
 * cofactorless equation by comparing encodings (RFC 8032 §5.1.7); the two extra checks OpenSSL does
 * not make — a canonical public-key encoding and a public key not of small order — are done here
 * on the bytes first, so both paths accept and reject the same inputs.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  verify as nodeVerify,
} from 'node:crypto';
import { CryptoError, invalidArgument } from './errors.js';
import { type AuthChallengeFields, authChallengeMessage } from './identity.js';
import {
  installRatchetPrimitives,
  noblePrimitives,
  type RatchetPrimitives,
  ratchetPrimitives,
} from './primitives.js';
import { assertBytes, assertObject, equalBytes, hexToBytes } from './utils.js';

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

// ---------------------------------------------------------------------------------------------
// Ratchet primitives on OpenSSL.

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);
const TAG_LENGTH = 16;

/** A copy in a plain Uint8Array of its own (a Buffer may be a view into a shared pool). */
function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

/** KDF_CK, ChaCha20-Poly1305 seal and open through node:crypto. */
export const nodeRatchetPrimitives: RatchetPrimitives = Object.freeze({
  name: 'node:crypto',
  kdfCk(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
    const next = createHmac('sha256', chainKey).update(TWO).digest();
    const message = createHmac('sha256', chainKey).update(ONE).digest();
    return [asBytes(next), asBytes(message)];
  },
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    const body = cipher.update(plaintext);
    out.set(body);
    cipher.final();
    out.set(cipher.getAuthTag(), body.length);
    return out;
  },
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array {
    if (sealed.length < TAG_LENGTH) throw new Error('sealed message shorter than its tag');
    const bodyLength = sealed.length - TAG_LENGTH;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(ad, { plaintextLength: bodyLength });
    decipher.setAuthTag(sealed.subarray(bodyLength));
    const plaintext = decipher.update(sealed.subarray(0, bodyLength));
    decipher.final(); // throws "Unsupported state or unable to authenticate data" on a bad tag
    return asBytes(plaintext);
  },
});

// RFC 8439 §2.8.2.
const RFC8439 = {
  key: hexToBytes('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: hexToBytes('070000004041424344454647'),
  ad: hexToBytes('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  sealed: hexToBytes(
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' +
      '1ae10b594f09e26a7e902ecbd0600691',
  ),
};

/**
 * Checks that `candidate` computes what the @noble primitives compute: RFC 8439 §2.8.2 both ways,
 * a tampered tag rejected, and agreement with @noble on KDF_CK and on sealing/opening messages of
 * lengths 0..130 (every Poly1305 padding case) with fixed keys. Returns the first disagreement (or
 * what the candidate threw), undefined when there is none.
 */
export function checkRatchetPrimitives(candidate: RatchetPrimitives): string | undefined {
  const shape = assertObject('candidate', candidate);
  for (const method of ['kdfCk', 'seal', 'open'] as const) {
    if (typeof shape[method] !== 'function')
      throw invalidArgument(`candidate.${method}`, 'must be a function');
  }
  try {
    return compareWithNoble(candidate);
  } catch (cause) {
    return `threw: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
}

function compareWithNoble(candidate: RatchetPrimitives): string | undefined {
  const { key, nonce, ad, plaintext, sealed } = RFC8439;
  if (!equalBytes(candidate.seal(key, nonce, plaintext, ad), sealed)) return 'RFC 8439 §2.8.2 seal';
  if (!equalBytes(candidate.open(key, nonce, sealed, ad), plaintext)) return 'RFC 8439 §2.8.2 open';
  const tampered = sealed.slice();
  tampered[tampered.length - 1]! ^= 1;
  let rejected = false;
  try {
    candidate.open(key, nonce, tampered, ad);
  } catch {
    rejected = true;
  }
  if (!rejected) return 'a tampered tag was accepted';
  let chainKey: Uint8Array = key.slice();
  for (let length = 0; length <= 130; length++) {
    const [next, messageKey] = candidate.kdfCk(chainKey);
    const [expectedNext, expectedMessageKey] = noblePrimitives.kdfCk(chainKey);
    if (!equalBytes(next, expectedNext) || !equalBytes(messageKey, expectedMessageKey)) return 'KDF_CK';
    const message = plaintext.subarray(0, Math.min(length, plaintext.length));
    const extra = chainKey.subarray(0, length % 33);
    const mine = candidate.seal(messageKey, nonce, message, extra);
    if (!equalBytes(mine, noblePrimitives.seal(messageKey, nonce, message, extra)))
      return `seal, ${length} bytes`;
    if (!equalBytes(noblePrimitives.open(messageKey, nonce, mine, extra), message))
      return `open, ${length} bytes`;
    if (!equalBytes(candidate.open(messageKey, nonce, mine, extra), message)) return `open, ${length} bytes`;
    chainKey = next;
  }
  return undefined;
}

/**
 * Makes this process's Double Ratchet use OpenSSL for KDF_CK and ChaCha20-Poly1305. Same bytes as
 * the default (checked first by `checkRatchetPrimitives`; on any disagreement it throws and leaves
 * the default in place). Call once at start-up in Node (the `tandem` CLI does). Idempotent.
 */
export function useNodeRatchetPrimitives(): void {
  if (ratchetPrimitives() === nodeRatchetPrimitives) return;
  const failure = checkRatchetPrimitives(nodeRatchetPrimitives);
  if (failure !== undefined) {
    throw new CryptoError(
      'INVALID_ARGUMENT',
      `node:crypto disagrees with @noble (${failure}); not installed`,
    );
  }
  installRatchetPrimitives(nodeRatchetPrimitives);
}

/** Goes back to the pure-JS default (@noble). */
export function useNobleRatchetPrimitives(): void {
  installRatchetPrimitives(noblePrimitives);
}

/** The name of the primitives the ratchet uses now: "noble" or "node:crypto". */
export function activeRatchetPrimitives(): string {
  return ratchetPrimitives().name;
}
