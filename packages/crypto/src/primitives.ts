/**
 * The symmetric primitives of the Double Ratchet's per-message path (KDF_CK and the AEAD), behind
 * one small interface so a platform with faster implementations of the *same functions* can
 * supply them. The default is pure JavaScript on @noble and runs everywhere (browsers included);
 * `@tandem/crypto/node` offers OpenSSL's implementations through node:crypto, installed only
 * after they reproduce published test vectors and these functions byte for byte.
 *
 * Nothing else goes through here: key agreement, signatures, HKDF for setup, linking and history
 * bundles always use @noble directly. A backend changes speed, never bytes: the known-answer
 * tests run against every backend.
 *
 * Not exported from the package: only this package's modules and `@tandem/crypto/node` use it.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

export interface RatchetPrimitives {
  /** A short name for logs and benchmarks ("noble", "node:crypto"). */
  readonly name: string;
  /**
   * KDF_CK (Double Ratchet §5.2): [HMAC-SHA256(chainKey, 0x02), HMAC-SHA256(chainKey, 0x01)],
   * i.e. [next chain key, message key].
   */
  kdfCk(chainKey: Uint8Array): [Uint8Array, Uint8Array];
  /** ChaCha20-Poly1305 (RFC 8439) with a 32-byte key and 12-byte nonce: ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** The inverse of `seal`; throws (any error) when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array;
}

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);

/** The default: @noble, pure JavaScript. */
export const noblePrimitives: RatchetPrimitives = Object.freeze({
  name: 'noble',
  kdfCk(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
    const forMessage = hmac.create(sha256, chainKey);
    const forChain = forMessage.clone(); // the keyed (ipad/opad) state is computed once
    forMessage.update(ONE);
    forChain.update(TWO);
    return [forChain.digest(), forMessage.digest()];
  },
  seal: (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array) =>
    chacha20poly1305(key, nonce, ad).encrypt(plaintext),
  open: (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array) =>
    chacha20poly1305(key, nonce, ad).decrypt(sealed),
});

let active: RatchetPrimitives = noblePrimitives;

/** The primitives the ratchet uses now. */
export function ratchetPrimitives(): RatchetPrimitives {
  return active;
}

/**
 * Replaces the ratchet's primitives for the whole process. Callers (only `@tandem/crypto/node`)
 * must have checked that `next` computes exactly the same functions first.
 */
export function installRatchetPrimitives(next: RatchetPrimitives): void {
  active = next;
}
