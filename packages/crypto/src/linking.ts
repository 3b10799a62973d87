/**
 * Device linking (QR). The new companion shows a QR with its link id, an ephemeral X25519 public
 * key, its identity public key and a fresh 32-byte secret. The phone scans it and seals the linking
 * payload (account id, device id, primary identity key, ADV signatures — opaque bytes here) so that
 * only the holder of the QR's secret and of the ephemeral private key can open it:
 *
 *   shared = X25519(phone ephemeral, companion ephemeral)                         (RFC 7748 §6.1)
 *   key || nonce = HKDF-SHA256(ikm = shared, salt = secret, info = "tandem/v1/link\0" || u8 len
 *                  || linkId || companion ephemeral || companion identity || phone ephemeral, 56)
 *   sealed = u8 version (1) || phone ephemeral (32) || XChaCha20-Poly1305(key, nonce, AD, payload)
 *   AD = u8 version || u8 len || linkId || phone ephemeral
 *
 * The server relaying `sealed` sees only ciphertext; without the QR's secret (which never passes
 * through the server) even a server that swapped the ephemeral keys could not derive the key.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { dh, generateX25519KeyPair } from './dh.js';
import { CryptoError, invalidArgument } from './errors.js';
import { PUBLIC_KEY_LENGTH } from './identity.js';
import { LINK_INFO } from './prefixes.js';
import { randomBytes } from './random.js';
import {
  assertBytes,
  assertObject,
  ByteReader,
  base64urlDecode,
  base64urlEncode,
  concatBytes,
  u8,
  utf8,
  wipe,
} from './utils.js';

export const QR_PREFIX = 'tandem1:';
export const LINK_SECRET_LENGTH = 32;
const SEALED_VERSION = 1;
/** Largest linking payload accepted (it holds ids, keys and signatures, not history). */
export const MAX_LINKING_PAYLOAD = 64 * 1024;

const LINK_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Created on the companion; keep it in memory until the sealed payload arrives. */
export interface LinkOffer {
  ephemeralPublicKey: Uint8Array;
  ephemeralSecretKey: Uint8Array;
  /** 32-byte linking secret, shown only in the QR. */
  secret: Uint8Array;
}

export interface QrPayload {
  /** The server's link session id: 1..64 characters of [A-Za-z0-9_-] (a UUID fits). */
  linkId: string;
  ephemeralPublicKey: Uint8Array;
  identityPublicKey: Uint8Array;
  secret: Uint8Array;
}

function assertLinkId(parameter: string, linkId: unknown): Uint8Array {
  if (typeof linkId !== 'string' || !LINK_ID_RE.test(linkId)) {
    throw invalidArgument(parameter, 'must be 1..64 characters of [A-Za-z0-9_-]');
  }
  return utf8(linkId);
}

/** Fresh ephemeral X25519 key pair and linking secret, from the platform CSPRNG. */
export function createLinkOffer(): LinkOffer {
  const { publicKey, secretKey } = generateX25519KeyPair();
  return {
    ephemeralPublicKey: publicKey,
    ephemeralSecretKey: secretKey,
    secret: randomBytes(LINK_SECRET_LENGTH),
  };
}

/** "tandem1:" || base64url(u8 len || linkId || ephemeral (32) || identity (32) || secret (32)). */
export function encodeQrPayload(payload: QrPayload): string {
  assertObject('payload', payload);
  const linkId = assertLinkId('payload.linkId', payload.linkId);
  assertBytes('payload.ephemeralPublicKey', payload.ephemeralPublicKey, 32);
  assertBytes('payload.identityPublicKey', payload.identityPublicKey, PUBLIC_KEY_LENGTH);
  assertBytes('payload.secret', payload.secret, LINK_SECRET_LENGTH);
  return (
    QR_PREFIX +
    base64urlEncode(
      concatBytes(
        u8(linkId.length),
        linkId,
        payload.ephemeralPublicKey,
        payload.identityPublicKey,
        payload.secret,
      ),
    )
  );
}

export function decodeQrPayload(text: string): QrPayload {
  if (typeof text !== 'string') throw invalidArgument('text', 'must be a string');
  const colon = text.indexOf(':');
  if (colon < 0) throw new CryptoError('BAD_FORMAT', 'QR payload has no version prefix');
  if (text.slice(0, colon + 1) !== QR_PREFIX) {
    throw new CryptoError(
      'UNSUPPORTED_VERSION',
      `QR payload prefix ${JSON.stringify(text.slice(0, colon + 1))} is not supported`,
    );
  }
  const r = new ByteReader(base64urlDecode(text.slice(colon + 1)), 'QR payload');
  const linkId = new TextDecoder().decode(r.bytesN(r.u8()));
  if (!LINK_ID_RE.test(linkId)) throw new CryptoError('BAD_FORMAT', 'QR payload: bad link id');
  const ephemeralPublicKey = r.copyN(32);
  const identityPublicKey = r.copyN(32);
  const secret = r.copyN(32);
  r.end();
  return { linkId, ephemeralPublicKey, identityPublicKey, secret };
}

function deriveKey(
  shared: Uint8Array,
  secret: Uint8Array,
  linkId: Uint8Array,
  companionEphemeral: Uint8Array,
  companionIdentity: Uint8Array,
  phoneEphemeral: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const info = concatBytes(
    LINK_INFO,
    u8(linkId.length),
    linkId,
    companionEphemeral,
    companionIdentity,
    phoneEphemeral,
  );
  const okm = hkdf(sha256, shared, secret, info, 56);
  wipe(shared);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 56) };
}

export interface SealLinkingPayloadInput {
  linkId: string;
  companionEphemeralPublic: Uint8Array;
  companionIdentityPublic: Uint8Array;
  secret: Uint8Array;
  payload: Uint8Array;
}

/** Phone side: seals `payload` for the companion that showed the QR. */
export function sealLinkingPayload(input: SealLinkingPayloadInput): Uint8Array {
  assertObject('input', input);
  const linkId = assertLinkId('input.linkId', input.linkId);
  assertBytes('input.companionEphemeralPublic', input.companionEphemeralPublic, 32);
  assertBytes('input.companionIdentityPublic', input.companionIdentityPublic, PUBLIC_KEY_LENGTH);
  assertBytes('input.secret', input.secret, LINK_SECRET_LENGTH);
  assertBytes('input.payload', input.payload);
  if (input.payload.length > MAX_LINKING_PAYLOAD)
    throw invalidArgument('input.payload', `must be <= ${MAX_LINKING_PAYLOAD} bytes`);
  const phone = generateX25519KeyPair();
  const shared = dh(phone.secretKey, input.companionEphemeralPublic, 'input.companionEphemeralPublic');
  wipe(phone.secretKey);
  const { key, nonce } = deriveKey(
    shared,
    input.secret,
    linkId,
    input.companionEphemeralPublic,
    input.companionIdentityPublic,
    phone.publicKey,
  );
  const prefix = concatBytes(u8(SEALED_VERSION), phone.publicKey);
  const ad = concatBytes(u8(SEALED_VERSION), u8(linkId.length), linkId, phone.publicKey);
  const ciphertext = xchacha20poly1305(key, nonce, ad).encrypt(input.payload);
  wipe(key);
  return concatBytes(prefix, ciphertext);
}

export interface OpenLinkingPayloadInput {
  linkId: string;
  offer: LinkOffer;
  /** The companion's own identity public key (the one in the QR). */
  companionIdentityPublic: Uint8Array;
  sealed: Uint8Array;
}

/** Companion side: opens the sealed payload. DECRYPT_FAILED on any tampering or wrong secret. */
export function openLinkingPayload(input: OpenLinkingPayloadInput): Uint8Array {
  assertObject('input', input);
  const linkId = assertLinkId('input.linkId', input.linkId);
  assertObject('input.offer', input.offer);
  assertBytes('input.offer.ephemeralPublicKey', input.offer.ephemeralPublicKey, 32);
  assertBytes('input.offer.ephemeralSecretKey', input.offer.ephemeralSecretKey, 32);
  assertBytes('input.offer.secret', input.offer.secret, LINK_SECRET_LENGTH);
  assertBytes('input.companionIdentityPublic', input.companionIdentityPublic, PUBLIC_KEY_LENGTH);
  assertBytes('input.sealed', input.sealed);
  const r = new ByteReader(input.sealed, 'sealed linking payload');
  const version = r.u8();
  if (version !== SEALED_VERSION)
    throw new CryptoError('UNSUPPORTED_VERSION', `sealed linking payload version ${version}`);
  const phoneEphemeral = r.copyN(32);
  const ciphertext = r.rest();
  if (ciphertext.length < 16) throw new CryptoError('TRUNCATED', 'sealed linking payload: truncated');
  let shared: Uint8Array;
  try {
    shared = dh(input.offer.ephemeralSecretKey, phoneEphemeral, 'phone ephemeral key');
  } catch (cause) {
    throw new CryptoError('DECRYPT_FAILED', 'sealed linking payload: bad phone ephemeral key', { cause });
  }
  const { key, nonce } = deriveKey(
    shared,
    input.offer.secret,
    linkId,
    input.offer.ephemeralPublicKey,
    input.companionIdentityPublic,
    phoneEphemeral,
  );
  const ad = concatBytes(u8(SEALED_VERSION), u8(linkId.length), linkId, phoneEphemeral);
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
  } catch (cause) {
    throw new CryptoError('DECRYPT_FAILED', 'sealed linking payload does not authenticate', { cause });
  } finally {
    wipe(key);
  }
}
