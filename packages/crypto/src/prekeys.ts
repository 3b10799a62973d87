/**
 * Prekeys (Signal PQXDH spec §2.2 and §3.2): a signed X25519 prekey, batches of unsigned one-time
 * X25519 prekeys, and ML-KEM-768 (FIPS 203) post-quantum prekeys — one-time or last-resort — each
 * signed by the identity key. Every prekey has a uint32 id.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { generateX25519KeyPair, isLowOrderX25519 } from './dh.js';
import { CryptoError, invalidArgument } from './errors.js';
import { PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, sign, verify } from './identity.js';
import { PQ_PREKEY_PREFIX, SIGNED_PREKEY_PREFIX } from './prefixes.js';
import { randomBytes } from './random.js';
import {
  assertBoolean,
  assertBytes,
  assertDeviceId,
  assertObject,
  assertUint32,
  concatBytes,
  u8,
  u32be,
} from './utils.js';

export const X25519_KEY_LENGTH = 32;
export const PQ_PUBLIC_KEY_LENGTH = 1184;
export const PQ_SECRET_KEY_LENGTH = 2400;
export const PQ_CIPHERTEXT_LENGTH = 1088;
/** Largest batch `generateOneTimePrekeys` / `generatePqPrekeys` will make in one call. */
export const MAX_PREKEY_BATCH = 1000;

export interface SignedPrekey {
  id: number;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  signature: Uint8Array;
}

export interface OneTimePrekey {
  id: number;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface PqPrekey {
  id: number;
  /** ML-KEM-768 encapsulation key, 1184 bytes. */
  publicKey: Uint8Array;
  /** ML-KEM-768 decapsulation key, 2400 bytes. */
  secretKey: Uint8Array;
  signature: Uint8Array;
  lastResort: boolean;
}

/** What a device publishes for others to start a session with it (PQXDH spec §3.2). */
export interface PrekeyBundle {
  identityKey: Uint8Array;
  registrationId: number;
  deviceId: number;
  signedPrekey: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  oneTimePrekey?: { id: number; publicKey: Uint8Array } | undefined;
  pqPrekey: { id: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean };
}

function signedPrekeyMessage(id: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes(u32be(id), publicKey);
}

function pqPrekeyMessage(id: number, lastResort: boolean, publicKey: Uint8Array): Uint8Array {
  return concatBytes(u32be(id), u8(lastResort ? 1 : 0), publicKey);
}

/** Signed X25519 prekey; signature = Ed25519(identity, "tandem/v1/signed-prekey\0" || u32 id || pub). */
export function generateSignedPrekey(identitySecret: Uint8Array, id: number): SignedPrekey {
  assertBytes('identitySecret', identitySecret, SECRET_KEY_LENGTH);
  assertUint32('id', id);
  const { publicKey, secretKey } = generateX25519KeyPair();
  const signature = sign(identitySecret, SIGNED_PREKEY_PREFIX, signedPrekeyMessage(id, publicKey));
  return { id, publicKey, secretKey, signature };
}

function assertBatch(startId: unknown, count: unknown): void {
  assertUint32('startId', startId);
  assertUint32('count', count);
  if ((count as number) > MAX_PREKEY_BATCH) throw invalidArgument('count', `must be <= ${MAX_PREKEY_BATCH}`);
  if ((startId as number) + (count as number) - 1 > 0xffff_ffff)
    throw invalidArgument('count', 'overflows uint32 ids');
}

/** `count` unsigned one-time X25519 prekeys with ids startId, startId+1, ... */
export function generateOneTimePrekeys(startId: number, count: number): OneTimePrekey[] {
  assertBatch(startId, count);
  const out: OneTimePrekey[] = [];
  for (let i = 0; i < count; i++) out.push({ id: startId + i, ...generateX25519KeyPair() });
  return out;
}

/** One signed ML-KEM-768 prekey; signature over "tandem/v1/pq-prekey\0" || u32 id || u8 lastResort || pub. */
export function generatePqPrekey(identitySecret: Uint8Array, id: number, lastResort: boolean): PqPrekey {
  assertBytes('identitySecret', identitySecret, SECRET_KEY_LENGTH);
  assertUint32('id', id);
  assertBoolean('lastResort', lastResort);
  const { publicKey, secretKey } = ml_kem768.keygen(randomBytes(64));
  const signature = sign(identitySecret, PQ_PREKEY_PREFIX, pqPrekeyMessage(id, lastResort, publicKey));
  return { id, publicKey, secretKey, signature, lastResort };
}

/** A batch of one-time signed ML-KEM-768 prekeys with ids startId, startId+1, ... */
export function generatePqPrekeys(identitySecret: Uint8Array, startId: number, count: number): PqPrekey[] {
  assertBytes('identitySecret', identitySecret, SECRET_KEY_LENGTH);
  assertBatch(startId, count);
  const out: PqPrekey[] = [];
  for (let i = 0; i < count; i++) out.push(generatePqPrekey(identitySecret, startId + i, false));
  return out;
}

/** The last-resort ML-KEM-768 prekey (handed out when the one-time ones run out; PQXDH §3.2). */
export function generateLastResortPqPrekey(identitySecret: Uint8Array, id: number): PqPrekey {
  return generatePqPrekey(identitySecret, id, true);
}

/** Checks a signed prekey's signature. Malformed inputs throw INVALID_ARGUMENT. */
export function verifySignedPrekey(
  identityKey: Uint8Array,
  prekey: { id: number; publicKey: Uint8Array; signature: Uint8Array },
): boolean {
  assertBytes('identityKey', identityKey, PUBLIC_KEY_LENGTH);
  assertObject('prekey', prekey);
  assertUint32('prekey.id', prekey.id);
  assertBytes('prekey.publicKey', prekey.publicKey, X25519_KEY_LENGTH);
  assertBytes('prekey.signature', prekey.signature, 64);
  return verify(
    identityKey,
    SIGNED_PREKEY_PREFIX,
    signedPrekeyMessage(prekey.id, prekey.publicKey),
    prekey.signature,
  );
}

/** Checks a PQ prekey's signature (which also covers its id and last-resort flag). */
export function verifyPqPrekey(
  identityKey: Uint8Array,
  prekey: { id: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean },
): boolean {
  assertBytes('identityKey', identityKey, PUBLIC_KEY_LENGTH);
  assertObject('prekey', prekey);
  assertUint32('prekey.id', prekey.id);
  assertBytes('prekey.publicKey', prekey.publicKey, PQ_PUBLIC_KEY_LENGTH);
  assertBytes('prekey.signature', prekey.signature, 64);
  assertBoolean('prekey.lastResort', prekey.lastResort);
  return verify(
    identityKey,
    PQ_PREKEY_PREFIX,
    pqPrekeyMessage(prekey.id, prekey.lastResort, prekey.publicKey),
    prekey.signature,
  );
}

/**
 * FIPS 203 §7.2 "modulus check" of an ML-KEM-768 encapsulation key: the 768 packed 12-bit
 * coefficients of t-hat (first 1152 bytes) must all be < q = 3329 (ByteEncode12(ByteDecode12(ek)) == ek).
 */
export function mlKemModulusCheck(publicKey: Uint8Array): boolean {
  if (publicKey.length !== PQ_PUBLIC_KEY_LENGTH) return false;
  let ok = true;
  for (let i = 0; i < 1152; i += 3) {
    const b0 = publicKey[i]!;
    const b1 = publicKey[i + 1]!;
    const b2 = publicKey[i + 2]!;
    if ((b0 | ((b1 & 0x0f) << 8)) >= 3329 || ((b1 >> 4) | (b2 << 4)) >= 3329) ok = false;
  }
  return ok;
}

/**
 * Validates a whole bundle before a session is built on it (PQXDH spec §3.3: "Alice verifies the
 * prekey signatures and aborts the protocol if verification fails"). Throws INVALID_ARGUMENT for a
 * malformed field, INVALID_KEY for an X25519 low-order/all-zero key, BAD_SIGNATURE for a bad
 * signature. Returns nothing on success.
 */
export function verifyPrekeyBundle(bundle: PrekeyBundle): void {
  assertObject('bundle', bundle);
  assertBytes('bundle.identityKey', bundle.identityKey, PUBLIC_KEY_LENGTH);
  assertUint32('bundle.registrationId', bundle.registrationId);
  assertDeviceId('bundle.deviceId', bundle.deviceId);
  assertObject('bundle.signedPrekey', bundle.signedPrekey);
  assertUint32('bundle.signedPrekey.id', bundle.signedPrekey.id);
  assertBytes('bundle.signedPrekey.publicKey', bundle.signedPrekey.publicKey, X25519_KEY_LENGTH);
  assertBytes('bundle.signedPrekey.signature', bundle.signedPrekey.signature, 64);
  if (bundle.oneTimePrekey !== undefined) {
    assertObject('bundle.oneTimePrekey', bundle.oneTimePrekey);
    assertUint32('bundle.oneTimePrekey.id', bundle.oneTimePrekey.id);
    assertBytes('bundle.oneTimePrekey.publicKey', bundle.oneTimePrekey.publicKey, X25519_KEY_LENGTH);
  }
  assertObject('bundle.pqPrekey', bundle.pqPrekey);
  assertUint32('bundle.pqPrekey.id', bundle.pqPrekey.id);
  assertBytes('bundle.pqPrekey.publicKey', bundle.pqPrekey.publicKey, PQ_PUBLIC_KEY_LENGTH);
  assertBytes('bundle.pqPrekey.signature', bundle.pqPrekey.signature, 64);
  assertBoolean('bundle.pqPrekey.lastResort', bundle.pqPrekey.lastResort);

  if (isLowOrderX25519(bundle.signedPrekey.publicKey)) {
    throw new CryptoError('INVALID_KEY', 'bundle.signedPrekey.publicKey is a low-order X25519 point', {
      parameter: 'bundle.signedPrekey.publicKey',
    });
  }
  if (bundle.oneTimePrekey !== undefined && isLowOrderX25519(bundle.oneTimePrekey.publicKey)) {
    throw new CryptoError('INVALID_KEY', 'bundle.oneTimePrekey.publicKey is a low-order X25519 point', {
      parameter: 'bundle.oneTimePrekey.publicKey',
    });
  }
  if (!mlKemModulusCheck(bundle.pqPrekey.publicKey)) {
    throw new CryptoError('INVALID_KEY', 'bundle.pqPrekey.publicKey is not a valid ML-KEM-768 key', {
      parameter: 'bundle.pqPrekey.publicKey',
    });
  }
  if (!verifySignedPrekey(bundle.identityKey, bundle.signedPrekey)) {
    throw new CryptoError('BAD_SIGNATURE', 'bundle.signedPrekey.signature does not verify', {
      parameter: 'bundle.signedPrekey.signature',
    });
  }
  if (!verifyPqPrekey(bundle.identityKey, bundle.pqPrekey)) {
    throw new CryptoError('BAD_SIGNATURE', 'bundle.pqPrekey.signature does not verify', {
      parameter: 'bundle.pqPrekey.signature',
    });
  }
}
