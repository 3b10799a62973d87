/**
 * Semantic checks of every input, on top of proto's structural decoding. Each failure is an
 * InvalidArgumentError naming the field, thrown before anything is written.
 */
import {
  HANDLE_PATTERN,
  IDENTITY_KEY_BYTES,
  MAX_COMPANIONS,
  MAX_DETAILS_BYTES,
  MAX_DEVICE_LIST_BYTES,
  MAX_DEVICE_LISTS_PER_REQUEST,
  MAX_DEVICE_NAME,
  MAX_DEVICES_PER_ACCOUNT,
  MAX_ONE_TIME_PREKEYS_PER_UPLOAD,
  MAX_PQ_PREKEYS_PER_UPLOAD,
  MAX_SEALED_PAYLOAD_BYTES,
  MAX_TOUCH_BATCH,
  MAX_UINT32,
  MLKEM768_PUBLIC_KEY_BYTES,
  PRIMARY_DEVICE_ID,
  SIGNATURE_BYTES,
  UUID_PATTERN,
  VERIFICATION_CODE_PATTERN,
  X25519_PUBLIC_KEY_BYTES,
} from '@tandem/proto';
import { InvalidArgumentError, InvalidKeyError } from './errors.js';
import type { OneTimePrekeyInput, PqPrekeyInput, PrekeyUpload, SignedPrekeyInput } from './types.js';

/** Proto's limits (packages/proto/src/limits.ts), under the names the checks below use. */
export const LIMITS = {
  identityKeyBytes: IDENTITY_KEY_BYTES,
  signatureBytes: SIGNATURE_BYTES,
  x25519Bytes: X25519_PUBLIC_KEY_BYTES,
  mlkemPublicKeyBytes: MLKEM768_PUBLIC_KEY_BYTES,
  maxOneTimePrekeys: MAX_ONE_TIME_PREKEYS_PER_UPLOAD,
  maxPqPrekeys: MAX_PQ_PREKEYS_PER_UPLOAD,
  maxDeviceNameChars: MAX_DEVICE_NAME,
  maxDetailsBytes: MAX_DETAILS_BYTES,
  maxDeviceListBytes: MAX_DEVICE_LIST_BYTES,
  maxSealedPayloadBytes: MAX_SEALED_PAYLOAD_BYTES,
  maxCompanions: MAX_COMPANIONS,
  maxDevicesPerAccount: MAX_DEVICES_PER_ACCOUNT,
  maxTouchBatch: MAX_TOUCH_BATCH,
  maxDeviceListsPerRequest: MAX_DEVICE_LISTS_PER_REQUEST,
  maxUint32: MAX_UINT32,
  primaryDeviceId: PRIMARY_DEVICE_ID,
} as const;

const UUID = UUID_PATTERN;
const HANDLE = HANDLE_PATTERN;
const CODE = VERIFICATION_CODE_PATTERN;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function bytesOfLength(field: string, value: Uint8Array | undefined, length: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(field, 'is required');
  if (value.length !== length)
    throw new InvalidArgumentError(field, `must be ${length} bytes, got ${value.length}`);
  return value;
}

/** A public key of a fixed length: a wrong one is INVALID_KEY. */
export function keyOfLength(field: string, value: Uint8Array | undefined, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0) throw new InvalidKeyError(field, 'is required');
  if (value.length !== length)
    throw new InvalidKeyError(field, `must be ${length} bytes, got ${value.length}`);
  return value;
}

export function bytesUpTo(field: string, value: Uint8Array | undefined, max: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0)
    throw new InvalidArgumentError(field, 'is required');
  if (value.length > max) throw new InvalidArgumentError(field, `must be at most ${max} bytes`);
  return value;
}

export function uint32(field: string, value: number | undefined, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > LIMITS.maxUint32) {
    throw new InvalidArgumentError(field, `must be an integer in ${min}..${LIMITS.maxUint32}`);
  }
  return value;
}

export function uuid(field: string, value: string | undefined): string {
  if (typeof value !== 'string' || !UUID.test(value))
    throw new InvalidArgumentError(field, 'must be a lowercase UUID');
  return value;
}

export function handle(value: string | undefined): string {
  if (typeof value !== 'string' || !HANDLE.test(value)) {
    throw new InvalidArgumentError('handle', 'must be an E.164 number or a lowercase username');
  }
  return value;
}

export function verificationCode(value: string | undefined): string {
  if (typeof value !== 'string' || !CODE.test(value))
    throw new InvalidArgumentError('code', 'must be 6 digits');
  return value;
}

export function deviceName(value: string | undefined): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError('name', 'is required');
  if ([...value].length > LIMITS.maxDeviceNameChars) {
    throw new InvalidArgumentError('name', `must be at most ${LIMITS.maxDeviceNameChars} characters`);
  }
  if (CONTROL.test(value)) throw new InvalidArgumentError('name', 'must not contain control characters');
  return value;
}

/** Device ids: 1 is the primary, companions are >= 2. */
export function companionDeviceId(field: string, value: number | undefined): number {
  return uint32(field, value, 2);
}

export function signedPrekey(field: string, value: SignedPrekeyInput | undefined): SignedPrekeyInput {
  if (value === undefined) throw new InvalidArgumentError(field, 'is required');
  return {
    id: uint32(`${field}.id`, value.id),
    publicKey: keyOfLength(`${field}.publicKey`, value.publicKey, LIMITS.x25519Bytes),
    signature: bytesOfLength(`${field}.signature`, value.signature, LIMITS.signatureBytes),
  };
}

export function pqPrekey(field: string, value: PqPrekeyInput | undefined): PqPrekeyInput {
  if (value === undefined) throw new InvalidArgumentError(field, 'is required');
  return {
    id: uint32(`${field}.id`, value.id),
    publicKey: keyOfLength(`${field}.publicKey`, value.publicKey, LIMITS.mlkemPublicKeyBytes),
    signature: bytesOfLength(`${field}.signature`, value.signature, LIMITS.signatureBytes),
  };
}

function uniqueIds(field: string, items: readonly { id: number }[]): void {
  const seen = new Set<number>();
  for (const item of items) {
    if (seen.has(item.id)) throw new InvalidArgumentError(field, `has duplicate id ${item.id}`);
    seen.add(item.id);
  }
}

export function oneTimePrekeys(field: string, items: readonly OneTimePrekeyInput[]): OneTimePrekeyInput[] {
  if (items.length > LIMITS.maxOneTimePrekeys) {
    throw new InvalidArgumentError(
      field,
      `must hold at most ${LIMITS.maxOneTimePrekeys} keys, got ${items.length}`,
    );
  }
  const out = items.map((k, i) => ({
    id: uint32(`${field}[${i}].id`, k.id),
    publicKey: keyOfLength(`${field}[${i}].publicKey`, k.publicKey, LIMITS.x25519Bytes),
  }));
  uniqueIds(field, out);
  return out;
}

export function pqPrekeys(field: string, items: readonly PqPrekeyInput[]): PqPrekeyInput[] {
  if (items.length > LIMITS.maxPqPrekeys) {
    throw new InvalidArgumentError(
      field,
      `must hold at most ${LIMITS.maxPqPrekeys} keys, got ${items.length}`,
    );
  }
  const out = items.map((k, i) => pqPrekey(`${field}[${i}]`, k));
  uniqueIds(field, out);
  return out;
}

/**
 * A full key set, as registration and link completion need it: signed prekey and last-resort
 * PQ prekey required, pools optional. The last-resort id must differ from every one-time PQ id.
 */
export function fullPrekeySet(upload: PrekeyUpload): Required<PrekeyUpload> {
  const out = {
    signedPrekey: signedPrekey('signedPrekey', upload.signedPrekey),
    oneTimePrekeys: oneTimePrekeys('oneTimePrekeys', upload.oneTimePrekeys),
    pqPrekeys: pqPrekeys('pqPrekeys', upload.pqPrekeys),
    pqLastResortPrekey: pqPrekey('pqLastResortPrekey', upload.pqLastResortPrekey),
  };
  if (out.pqPrekeys.some((k) => k.id === out.pqLastResortPrekey.id)) {
    throw new InvalidArgumentError('pqLastResortPrekey.id', 'must differ from every one-time PQ prekey id');
  }
  return out;
}

/** A partial upload (prekey_upload): at least one part present. */
export function partialPrekeyUpload(upload: PrekeyUpload): PrekeyUpload {
  const out: PrekeyUpload = {
    signedPrekey: upload.signedPrekey && signedPrekey('signedPrekey', upload.signedPrekey),
    oneTimePrekeys: oneTimePrekeys('oneTimePrekeys', upload.oneTimePrekeys),
    pqPrekeys: pqPrekeys('pqPrekeys', upload.pqPrekeys),
    pqLastResortPrekey:
      upload.pqLastResortPrekey && pqPrekey('pqLastResortPrekey', upload.pqLastResortPrekey),
  };
  if (
    !out.signedPrekey &&
    !out.pqLastResortPrekey &&
    out.oneTimePrekeys.length === 0 &&
    out.pqPrekeys.length === 0
  ) {
    throw new InvalidArgumentError('upload', 'must contain at least one key');
  }
  if (out.pqLastResortPrekey && out.pqPrekeys.some((k) => k.id === out.pqLastResortPrekey!.id)) {
    throw new InvalidArgumentError('pqLastResortPrekey.id', 'must differ from every one-time PQ prekey id');
  }
  return out;
}
