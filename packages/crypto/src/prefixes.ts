/**
 * Every domain-separation prefix and KDF label Tandem uses, in one place. A signature or key made
 * for one purpose can never be mistaken for one made for another, because the signed (or derived)
 * bytes always start with a prefix that differs per purpose.
 *
 * Two families:
 * - WhatsApp's Account Device Verification (ADV) prefixes: two bytes 0x06 0x0N.
 * - Tandem ASCII labels, each followed by one 0x00 byte so that no label is a prefix of another
 *   label's encoding. They start with 't' (0x74), so they can never collide with the 0x06 family.
 */

const label = (text: string): Uint8Array => {
  const ascii = new TextEncoder().encode(text);
  const out = new Uint8Array(ascii.length + 1);
  out.set(ascii);
  return out; // trailing 0x00 terminator
};

/** ADV: the primary's (account) signature over a companion's identity. */
export const ADV_ACCOUNT_SIGNATURE_PREFIX: Uint8Array = Uint8Array.of(0x06, 0x00);
/** ADV: the companion's (device) counter-signature. */
export const ADV_DEVICE_SIGNATURE_PREFIX: Uint8Array = Uint8Array.of(0x06, 0x01);
/** ADV: the primary's signature over the account's device list. */
export const ADV_DEVICE_LIST_PREFIX: Uint8Array = Uint8Array.of(0x06, 0x02);

/** Signature over a signed (X25519) prekey: label || u32 id || public key. */
export const SIGNED_PREKEY_PREFIX: Uint8Array = label('tandem/v1/signed-prekey');
/** Signature over an ML-KEM-768 prekey: label || u32 id || u8 lastResort || public key. */
export const PQ_PREKEY_PREFIX: Uint8Array = label('tandem/v1/pq-prekey');
/** Signature over a gateway authentication challenge. */
export const AUTH_CHALLENGE_PREFIX: Uint8Array = label('tandem/v1/auth-challenge');
/** HKDF info prefix for the QR linking payload key. */
export const LINK_INFO: Uint8Array = label('tandem/v1/link');
/** AEAD associated-data label for history bundle chunks. */
export const HISTORY_AD: Uint8Array = label('tandem/v1/history');

/** PQXDH info string (PQXDH spec §2.1 "info": an application-specific protocol identifier). */
export const PQXDH_INFO: Uint8Array = new TextEncoder().encode(
  'Tandem_v1_PQXDH_CURVE25519_SHA-256_ML-KEM-768',
);
/** Double Ratchet KDF_RK info (Signal Double Ratchet spec §5.2). */
export const RATCHET_ROOT_INFO: Uint8Array = new TextEncoder().encode('Tandem_v1_DoubleRatchet_Root');

/** Version of the safety-number fingerprint (Signal's NumericFingerprint uses 0x0000). */
export const SAFETY_NUMBER_VERSION: Uint8Array = Uint8Array.of(0x00, 0x00);
