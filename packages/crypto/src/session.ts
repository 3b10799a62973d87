/**
 * Session setup: PQXDH (Signal, "The PQXDH Key Agreement Protocol", rev. 3), sections 3.3 (Alice
 * sends the initial message) and 3.4 (Bob receives it), with X25519, SHA-256 and ML-KEM-768.
 * Identity keys are Ed25519; their X25519 forms come from the birational map (identity.ts).
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { dh, generateX25519KeyPair } from './dh.js';
import { CryptoError, invalidArgument } from './errors.js';
import {
  type IdentityKeyPair,
  PUBLIC_KEY_LENGTH,
  SECRET_KEY_LENGTH,
  toX25519PublicKey,
  toX25519SecretKey,
} from './identity.js';
import { PQXDH_INFO } from './prefixes.js';
import {
  type OneTimePrekey,
  PQ_CIPHERTEXT_LENGTH,
  PQ_SECRET_KEY_LENGTH,
  type PqPrekey,
  type PrekeyBundle,
  type SignedPrekey,
  verifyPrekeyBundle,
} from './prekeys.js';
import { randomBytes } from './random.js';
import {
  assertBytes,
  assertObject,
  assertUint32,
  ByteReader,
  concatBytes,
  u8,
  u32be,
  wipe,
} from './utils.js';

/** What Bob needs to rebuild the session: PQXDH §3.3, "Alice then sends Bob an initial message". */
export interface PrekeyHeader {
  /** Alice's identity key IK_A (Ed25519). */
  identityKey: Uint8Array;
  /** Alice's registration id (opaque to this package; lets Bob notice a reinstall). */
  registrationId: number;
  /** Alice's ephemeral key EK_A (X25519). */
  ephemeralKey: Uint8Array;
  signedPrekeyId: number;
  /** Present when a one-time prekey was used (then DH4 is part of SK). */
  oneTimePrekeyId?: number | undefined;
  pqPrekeyId: number;
  /** ML-KEM-768 ciphertext CT, 1088 bytes. */
  kemCiphertext: Uint8Array;
}

export interface InitiatedSession {
  /** SK, 32 bytes. */
  sharedKey: Uint8Array;
  /** AD = IK_A || IK_B (Ed25519 encodings), 64 bytes. */
  associatedData: Uint8Array;
  header: PrekeyHeader;
  /** Bob's signed prekey: the first remote ratchet key (Double Ratchet spec §3.3). */
  remoteSignedPrekey: Uint8Array;
}

export interface RespondedSession {
  sharedKey: Uint8Array;
  associatedData: Uint8Array;
}

/** The prekeys Bob used, looked up by the ids in the header. */
export interface ResponderPrekeys {
  signedPrekey: SignedPrekey;
  oneTimePrekey?: OneTimePrekey | undefined;
  pqPrekey: PqPrekey;
}

/** F = 32 0xFF bytes (PQXDH §2.2 / X3DH §2.2: "for X25519, F is 32 0xFF bytes"). */
const F = new Uint8Array(32).fill(0xff);
const ZERO_SALT = new Uint8Array(32);

/** KDF(KM) = HKDF-SHA256(salt = 32 zero bytes, IKM = F || KM, info) (PQXDH §2.2). */
function kdf(parts: Uint8Array[]): Uint8Array {
  const ikm = concatBytes(F, ...parts);
  const sk = hkdf(sha256, ikm, ZERO_SALT, PQXDH_INFO, 32);
  wipe(ikm);
  return sk;
}

/**
 * Alice's side (PQXDH §3.3): verifies the bundle, then
 * DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B) if any,
 * (CT, SS) = PQKEM-ENC(PQPK_B), SK = KDF(DH1 || DH2 || DH3 [|| DH4] || SS), AD = IK_A || IK_B.
 */
export function initiateSession(
  identity: IdentityKeyPair,
  registrationId: number,
  bundle: PrekeyBundle,
): InitiatedSession {
  assertObject('identity', identity);
  assertBytes('identity.publicKey', identity.publicKey, PUBLIC_KEY_LENGTH);
  assertBytes('identity.secretKey', identity.secretKey, SECRET_KEY_LENGTH);
  assertUint32('registrationId', registrationId);
  verifyPrekeyBundle(bundle);
  const ikA = toX25519SecretKey(identity.secretKey);
  const ikB = toX25519PublicKey(bundle.identityKey);
  const ek = generateX25519KeyPair();
  const spk = bundle.signedPrekey.publicKey;
  const dh1 = dh(ikA, spk, 'bundle.signedPrekey.publicKey');
  const dh2 = dh(ek.secretKey, ikB, 'bundle.identityKey');
  const dh3 = dh(ek.secretKey, spk, 'bundle.signedPrekey.publicKey');
  const dh4 = bundle.oneTimePrekey
    ? dh(ek.secretKey, bundle.oneTimePrekey.publicKey, 'bundle.oneTimePrekey')
    : undefined;
  let kem: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    kem = ml_kem768.encapsulate(bundle.pqPrekey.publicKey, randomBytes(32));
  } catch (cause) {
    throw new CryptoError('INVALID_KEY', 'bundle.pqPrekey.publicKey is not a valid ML-KEM-768 key', {
      cause,
    });
  }
  const parts = dh4 ? [dh1, dh2, dh3, dh4, kem.sharedSecret] : [dh1, dh2, dh3, kem.sharedSecret];
  const sharedKey = kdf(parts);
  // PQXDH §3.3: "Alice deletes her ephemeral private key and the DH outputs".
  wipe(ikA, ek.secretKey, ...parts);
  return {
    sharedKey,
    associatedData: concatBytes(identity.publicKey, bundle.identityKey),
    header: {
      identityKey: identity.publicKey.slice(),
      registrationId,
      ephemeralKey: ek.publicKey,
      signedPrekeyId: bundle.signedPrekey.id,
      oneTimePrekeyId: bundle.oneTimePrekey?.id,
      pqPrekeyId: bundle.pqPrekey.id,
      kemCiphertext: kem.cipherText,
    },
    remoteSignedPrekey: spk.slice(),
  };
}

/**
 * Bob's side (PQXDH §3.4): repeats the DH and decapsulation with his private keys and derives the
 * same SK and AD. The caller looks up the prekeys by the ids in `header`, and after the first
 * message decrypts deletes the one-time prekey and a one-time PQ prekey (never a last-resort one).
 */
export function respondToSession(
  identity: IdentityKeyPair,
  prekeys: ResponderPrekeys,
  header: PrekeyHeader,
): RespondedSession {
  assertObject('identity', identity);
  assertBytes('identity.publicKey', identity.publicKey, PUBLIC_KEY_LENGTH);
  assertBytes('identity.secretKey', identity.secretKey, SECRET_KEY_LENGTH);
  assertObject('prekeys', prekeys);
  assertObject('prekeys.signedPrekey', prekeys.signedPrekey);
  assertBytes('prekeys.signedPrekey.secretKey', prekeys.signedPrekey.secretKey, 32);
  assertObject('prekeys.pqPrekey', prekeys.pqPrekey);
  assertBytes('prekeys.pqPrekey.secretKey', prekeys.pqPrekey.secretKey, PQ_SECRET_KEY_LENGTH);
  assertPrekeyHeader(header);
  if (prekeys.signedPrekey.id !== header.signedPrekeyId) {
    throw invalidArgument('prekeys.signedPrekey', 'id does not match header.signedPrekeyId');
  }
  if (prekeys.pqPrekey.id !== header.pqPrekeyId)
    throw invalidArgument('prekeys.pqPrekey', 'id does not match header.pqPrekeyId');
  if (header.oneTimePrekeyId !== undefined) {
    if (prekeys.oneTimePrekey === undefined) {
      throw new CryptoError('MISSING_PREKEY', `one-time prekey ${header.oneTimePrekeyId} is not available`);
    }
    assertObject('prekeys.oneTimePrekey', prekeys.oneTimePrekey);
    assertBytes('prekeys.oneTimePrekey.secretKey', prekeys.oneTimePrekey.secretKey, 32);
    if (prekeys.oneTimePrekey.id !== header.oneTimePrekeyId) {
      throw invalidArgument('prekeys.oneTimePrekey', 'id does not match header.oneTimePrekeyId');
    }
  }
  const ikB = toX25519SecretKey(identity.secretKey);
  const ikA = toX25519PublicKey(header.identityKey);
  const spk = prekeys.signedPrekey.secretKey;
  const dh1 = dh(spk, ikA, 'header.identityKey');
  const dh2 = dh(ikB, header.ephemeralKey, 'header.ephemeralKey');
  const dh3 = dh(spk, header.ephemeralKey, 'header.ephemeralKey');
  const dh4 =
    header.oneTimePrekeyId !== undefined && prekeys.oneTimePrekey
      ? dh(prekeys.oneTimePrekey.secretKey, header.ephemeralKey, 'header.ephemeralKey')
      : undefined;
  let ss: Uint8Array;
  try {
    // ML-KEM decapsulation never fails on a well-sized ciphertext (implicit rejection, FIPS 203 §6.3).
    ss = ml_kem768.decapsulate(header.kemCiphertext, prekeys.pqPrekey.secretKey);
  } catch (cause) {
    throw new CryptoError('INVALID_KEY', 'ML-KEM decapsulation failed', { cause });
  }
  const parts = dh4 ? [dh1, dh2, dh3, dh4, ss] : [dh1, dh2, dh3, ss];
  const sharedKey = kdf(parts);
  wipe(ikB, ...parts);
  return { sharedKey, associatedData: concatBytes(header.identityKey, identity.publicKey) };
}

export function assertPrekeyHeader(header: PrekeyHeader, name = 'header'): void {
  assertObject(name, header);
  assertBytes(`${name}.identityKey`, header.identityKey, PUBLIC_KEY_LENGTH);
  assertUint32(`${name}.registrationId`, header.registrationId);
  assertBytes(`${name}.ephemeralKey`, header.ephemeralKey, 32);
  assertUint32(`${name}.signedPrekeyId`, header.signedPrekeyId);
  if (header.oneTimePrekeyId !== undefined) assertUint32(`${name}.oneTimePrekeyId`, header.oneTimePrekeyId);
  assertUint32(`${name}.pqPrekeyId`, header.pqPrekeyId);
  assertBytes(`${name}.kemCiphertext`, header.kemCiphertext, PQ_CIPHERTEXT_LENGTH);
}

/**
 * Canonical bytes of a prekey header: identityKey (32) || u32 registrationId || ephemeralKey (32)
 * || u32 signedPrekeyId || u8 hasOneTime || [u32 oneTimePrekeyId] || u32 pqPrekeyId || CT (1088).
 */
export function encodePrekeyHeader(header: PrekeyHeader): Uint8Array {
  assertPrekeyHeader(header);
  const hasOneTime = header.oneTimePrekeyId !== undefined;
  return concatBytes(
    header.identityKey,
    u32be(header.registrationId),
    header.ephemeralKey,
    u32be(header.signedPrekeyId),
    u8(hasOneTime ? 1 : 0),
    hasOneTime ? u32be(header.oneTimePrekeyId!) : new Uint8Array(0),
    u32be(header.pqPrekeyId),
    header.kemCiphertext,
  );
}

/** Reads a prekey header from `reader` (no end check: the ratchet message follows). */
export function readPrekeyHeader(reader: ByteReader): PrekeyHeader {
  const identityKey = reader.copyN(32);
  const registrationId = reader.u32();
  const ephemeralKey = reader.copyN(32);
  const signedPrekeyId = reader.u32();
  const hasOneTime = reader.bool();
  const oneTimePrekeyId = hasOneTime ? reader.u32() : undefined;
  const pqPrekeyId = reader.u32();
  const kemCiphertext = reader.copyN(PQ_CIPHERTEXT_LENGTH);
  return {
    identityKey,
    registrationId,
    ephemeralKey,
    signedPrekeyId,
    oneTimePrekeyId,
    pqPrekeyId,
    kemCiphertext,
  };
}

/** Decodes exactly one prekey header. */
export function decodePrekeyHeader(bytes: Uint8Array): PrekeyHeader {
  assertBytes('bytes', bytes);
  const reader = new ByteReader(bytes, 'prekey header');
  const header = readPrekeyHeader(reader);
  reader.end();
  return header;
}
