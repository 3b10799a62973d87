/**
 * Identity keys: Ed25519 key pairs (RFC 8032). The 32-byte secret is the RFC 8032 §5.1.5 seed.
 * Every Tandem signature is over domain-separated bytes (see prefixes.ts). For Diffie-Hellman the
 * identity key is converted to X25519 with the Ed25519 -> Curve25519 birational map
 * (u = (1 + y) / (1 - y), RFC 7748 §4.1), and the secret with the RFC 8032 §5.1.5 scalar derivation
 * (SHA-512 of the seed, first half, clamped), exactly as libsodium's
 * crypto_sign_ed25519_{pk,sk}_to_curve25519.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { CryptoError, invalidArgument } from './errors.js';
import { AUTH_CHALLENGE_PREFIX } from './prefixes.js';
import { randomBytes } from './random.js';
import {
  accountIdToBytes,
  assertBytes,
  assertDeviceId,
  assertObject,
  assertSafeUint,
  concatBytes,
  equalBytes,
  u8,
  u32be,
  u64be,
  utf8,
} from './utils.js';

export const PUBLIC_KEY_LENGTH = 32;
export const SECRET_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

export interface IdentityKeyPair {
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** Ed25519 secret seed, 32 bytes. Never leaves the device. */
  secretKey: Uint8Array;
}

const Point = ed25519.Point;
const L = Point.Fn.ORDER;

/** Generates a fresh identity key pair from the platform CSPRNG. */
export function generateIdentity(): IdentityKeyPair {
  const secretKey = randomBytes(SECRET_KEY_LENGTH);
  return { publicKey: ed25519.getPublicKey(secretKey), secretKey };
}

/** The Ed25519 public key of a 32-byte secret seed (RFC 8032 §5.1.5). */
export function identityPublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, SECRET_KEY_LENGTH);
  return ed25519.getPublicKey(secretKey);
}

function assertPrefix(prefix: Uint8Array): void {
  assertBytes('prefix', prefix);
  if (prefix.length < 2) throw invalidArgument('prefix', 'must be a domain-separation prefix of >= 2 bytes');
}

/** Ed25519 signature over prefix || message (RFC 8032 §5.1.6). Deterministic. */
export function sign(secretKey: Uint8Array, prefix: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, SECRET_KEY_LENGTH);
  assertPrefix(prefix);
  assertBytes('message', message);
  return ed25519.sign(concatBytes(prefix, message), secretKey);
}

/** Verifies a signature made by `sign` with the same prefix. Returns false on any mismatch. */
export function verify(
  publicKey: Uint8Array,
  prefix: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  assertPrefix(prefix);
  assertBytes('message', message);
  return verifySignature(publicKey, concatBytes(prefix, message), signature);
}

/**
 * Raw Ed25519 verification of `message` (which must already contain its domain prefix).
 *
 * Rule (the same as libsodium and the Node fast path in `@tandem/crypto/node`): RFC 8032 §5.1.7
 * with the cofactorless equation checked by encoding, i.e. encode([S]B - [k]A') == R byte for byte;
 * S must be < L; A must be a canonical encoding (y < p, no "negative zero") of a point that is not
 * of small order. Deterministic accept/reject for every input, so the server's OpenSSL path and
 * this pure path always agree.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes('publicKey', publicKey, PUBLIC_KEY_LENGTH);
  assertBytes('message', message);
  assertBytes('signature', signature, SIGNATURE_LENGTH);
  const r = signature.subarray(0, 32);
  // RFC 8032 §5.1.7 step 1: S must be in [0, L).
  const s = bytesToNumberLE(signature.subarray(32, 64));
  if (s >= L) return false;
  let A: InstanceType<typeof Point>;
  try {
    A = Point.fromBytes(publicKey, false); // strict decoding (RFC 8032 §5.1.3)
  } catch {
    return false;
  }
  if (A.isSmallOrder()) return false;
  // §5.1.7 step 2: k = SHA-512(dom2 || R || A || M) mod L (dom2 is empty for Ed25519).
  const k = bytesToNumberLE(sha512(concatBytes(r, publicKey, message))) % L;
  // §5.1.7 step 3, cofactorless: R' = [S]B - [k]A', compared as an encoding.
  const rPrime = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  return equalBytes(rPrime.toBytes(), r);
}

/** X25519 public key of an Ed25519 identity public key (birational map, RFC 7748 §4.1). */
export function toX25519PublicKey(identityPublic: Uint8Array): Uint8Array {
  assertBytes('identityPublic', identityPublic, PUBLIC_KEY_LENGTH);
  try {
    const u = ed25519.utils.toMontgomery(identityPublic);
    if (u.every((b) => b === 0)) throw new Error('zero');
    return u;
  } catch (cause) {
    throw new CryptoError('INVALID_KEY', 'identityPublic is not a valid Ed25519 point', { cause });
  }
}

/** X25519 secret scalar of an Ed25519 identity seed (SHA-512(seed)[0..32], clamped; RFC 8032 §5.1.5). */
export function toX25519SecretKey(identitySecret: Uint8Array): Uint8Array {
  assertBytes('identitySecret', identitySecret, SECRET_KEY_LENGTH);
  return ed25519.utils.toMontgomerySecret(identitySecret);
}

/** Fields of a gateway authentication challenge response. */
export interface AuthChallengeFields {
  /** Server identity (e.g. "chat.example.org"); 1..255 UTF-8 bytes. */
  realm: string;
  /** The 32-byte random challenge the server sent. */
  nonce: Uint8Array;
  /** Client time of signing, ms since the Unix epoch. */
  timestampMs: number;
  /** Lowercase UUID of the account. */
  accountId: string;
  /** The signing device's id (uint32, >= 1). */
  deviceId: number;
}

/**
 * The exact bytes a device signs to answer an authentication challenge:
 * "tandem/v1/auth-challenge\0" || u8 len(realm) || realm (UTF-8) || nonce (32)
 * || u64be timestampMs || accountId (16 bytes) || u32be deviceId.
 */
export function authChallengeMessage(fields: AuthChallengeFields): Uint8Array {
  assertObject('fields', fields);
  if (typeof fields.realm !== 'string') throw invalidArgument('fields.realm', 'must be a string');
  const realm = utf8(fields.realm);
  if (realm.length < 1 || realm.length > 255)
    throw invalidArgument('fields.realm', 'must be 1..255 UTF-8 bytes');
  const nonce = assertBytes('fields.nonce', fields.nonce, 32);
  const ts = assertSafeUint('fields.timestampMs', fields.timestampMs);
  const account = accountIdToBytes('fields.accountId', fields.accountId);
  const device = assertDeviceId('fields.deviceId', fields.deviceId);
  return concatBytes(
    AUTH_CHALLENGE_PREFIX,
    u8(realm.length),
    realm,
    nonce,
    u64be(ts),
    account,
    u32be(device),
  );
}

/** Signs an authentication challenge with the device's identity secret. */
export function signAuthChallenge(identitySecret: Uint8Array, fields: AuthChallengeFields): Uint8Array {
  assertBytes('identitySecret', identitySecret, SECRET_KEY_LENGTH);
  return ed25519.sign(authChallengeMessage(fields), identitySecret);
}

/** Checks a challenge response. The caller still checks nonce freshness and the timestamp window. */
export function verifyAuthChallenge(
  identityPublic: Uint8Array,
  fields: AuthChallengeFields,
  signature: Uint8Array,
): boolean {
  assertBytes('identityPublic', identityPublic, PUBLIC_KEY_LENGTH);
  return verifySignature(identityPublic, authChallengeMessage(fields), signature);
}
