/**
 * Internal X25519 helpers (RFC 7748). Not an entry point.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { CryptoError } from './errors.js';
import { randomBytes } from './random.js';
import { equalBytes, hexToBytes } from './utils.js';

export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateX25519KeyPair(): X25519KeyPair {
  const secretKey = randomBytes(32);
  return { publicKey: x25519.getPublicKey(secretKey), secretKey };
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secretKey);
}

/**
 * Encodings of X25519 points of small order, after masking the top bit (RFC 7748 §5: the MSB is
 * ignored). The list of libsodium's crypto_scalarmult blocklist: 0, 1, the two order-8 points,
 * p-1, and the non-canonical p and p+1.
 */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(hexToBytes);

/** True for the all-zero key and every other X25519 public key of small order. */
export function isLowOrderX25519(publicKey: Uint8Array): boolean {
  const masked = publicKey.slice();
  masked[31] = masked[31]! & 0x7f;
  let bad = false;
  for (const candidate of LOW_ORDER) bad = equalBytes(masked, candidate) || bad;
  return bad;
}

/** X25519(secret, public) (RFC 7748 §6.1), rejecting low-order inputs and an all-zero output. */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array, what: string): Uint8Array {
  if (isLowOrderX25519(publicKey))
    throw new CryptoError('INVALID_KEY', `${what} is a low-order X25519 point`);
  try {
    return x25519.getSharedSecret(secretKey, publicKey);
  } catch (cause) {
    throw new CryptoError('INVALID_KEY', `${what} is an invalid X25519 point`, { cause });
  }
}
