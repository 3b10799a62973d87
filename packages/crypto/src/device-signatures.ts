/**
 * Account Device Verification (WhatsApp multi-device whitepaper, "Account Device Verification"):
 * the primary (device 1) signs each companion's identity, the companion counter-signs, and the
 * primary signs the list of the account's devices. Prefixes 0x0600 / 0x0601 / 0x0602.
 */
import { CryptoError, invalidArgument } from './errors.js';
import {
  identityPublicKey,
  PUBLIC_KEY_LENGTH,
  SECRET_KEY_LENGTH,
  SIGNATURE_LENGTH,
  sign,
  verify,
} from './identity.js';
import {
  ADV_ACCOUNT_SIGNATURE_PREFIX,
  ADV_DEVICE_LIST_PREFIX,
  ADV_DEVICE_SIGNATURE_PREFIX,
} from './prefixes.js';
import {
  accountIdToBytes,
  assertArray,
  assertBytes,
  assertDeviceId,
  assertObject,
  assertSafeUint,
  assertUint32,
  ByteReader,
  bytesToAccountId,
  concatBytes,
  equalBytes,
  isBytes,
  u8,
  u32be,
  u64be,
} from './utils.js';

export const PRIMARY_DEVICE_ID = 1;
/** A phone and up to four companions (DESIGN.md). */
export const MAX_DEVICES_PER_ACCOUNT = 5;
const DETAILS_VERSION = 1;
const DEVICE_LIST_VERSION = 1;

/** What the primary vouches for when it links a companion (WhatsApp: ADVDeviceIdentity). */
export interface DeviceIdentityDetails {
  accountId: string;
  /** The companion's device id (>= 2). */
  deviceId: number;
  /** The companion's identity key (Ed25519). */
  identityKey: Uint8Array;
  linkedAtMs: number;
  /** Increments with every device the primary links. */
  keyIndex: number;
}

/**
 * Canonical bytes (65): u8 version (1) || accountId (16) || u32be deviceId || identityKey (32)
 * || u64be linkedAtMs || u32be keyIndex.
 */
export function encodeDeviceIdentityDetails(details: DeviceIdentityDetails): Uint8Array {
  assertObject('details', details);
  const account = accountIdToBytes('details.accountId', details.accountId);
  const deviceId = assertDeviceId('details.deviceId', details.deviceId);
  if (deviceId === PRIMARY_DEVICE_ID)
    throw invalidArgument('details.deviceId', 'must be a companion id (>= 2)');
  assertBytes('details.identityKey', details.identityKey, PUBLIC_KEY_LENGTH);
  assertSafeUint('details.linkedAtMs', details.linkedAtMs);
  assertUint32('details.keyIndex', details.keyIndex);
  return concatBytes(
    u8(DETAILS_VERSION),
    account,
    u32be(deviceId),
    details.identityKey,
    u64be(details.linkedAtMs),
    u32be(details.keyIndex),
  );
}

export function decodeDeviceIdentityDetails(bytes: Uint8Array): DeviceIdentityDetails {
  assertBytes('bytes', bytes);
  const r = new ByteReader(bytes, 'device identity details');
  const version = r.u8();
  if (version !== DETAILS_VERSION)
    throw new CryptoError('UNSUPPORTED_VERSION', `device identity details version ${version}`);
  const accountId = bytesToAccountId(r.bytesN(16));
  const deviceId = r.u32();
  const identityKey = r.copyN(32);
  const linkedAtMs = r.u64();
  const keyIndex = r.u32();
  r.end();
  if (deviceId <= PRIMARY_DEVICE_ID)
    throw new CryptoError('BAD_FORMAT', 'device identity details: deviceId must be >= 2');
  return { accountId, deviceId, identityKey, linkedAtMs, keyIndex };
}

/** Accepts details as an object or as their canonical bytes; returns both forms. */
function detailsBoth(details: DeviceIdentityDetails | Uint8Array): {
  bytes: Uint8Array;
  value: DeviceIdentityDetails;
} {
  if (isBytes(details)) return { bytes: details, value: decodeDeviceIdentityDetails(details) };
  const bytes = encodeDeviceIdentityDetails(details);
  return { bytes, value: decodeDeviceIdentityDetails(bytes) };
}

const accountMessage = (d: { bytes: Uint8Array; value: DeviceIdentityDetails }) =>
  concatBytes(d.bytes, d.value.identityKey);

/** accountSignature = Ed25519(primary, 0x06 0x00 || details || companionIdentityKey). */
export function signCompanion(
  primarySecret: Uint8Array,
  details: DeviceIdentityDetails | Uint8Array,
): Uint8Array {
  assertBytes('primarySecret', primarySecret, SECRET_KEY_LENGTH);
  return sign(primarySecret, ADV_ACCOUNT_SIGNATURE_PREFIX, accountMessage(detailsBoth(details)));
}

/**
 * deviceSignature = Ed25519(companion, 0x06 0x01 || details || companionIdentityKey || primaryIdentityKey).
 * The companion first checks the account signature (BAD_SIGNATURE if it does not verify) and that
 * the details name its own identity key (IDENTITY_MISMATCH).
 */
export function counterSignCompanion(
  companionSecret: Uint8Array,
  details: DeviceIdentityDetails | Uint8Array,
  accountSignature: Uint8Array,
  primaryIdentityKey: Uint8Array,
): Uint8Array {
  assertBytes('companionSecret', companionSecret, SECRET_KEY_LENGTH);
  assertBytes('accountSignature', accountSignature, SIGNATURE_LENGTH);
  assertBytes('primaryIdentityKey', primaryIdentityKey, PUBLIC_KEY_LENGTH);
  const d = detailsBoth(details);
  if (!equalBytes(identityPublicKey(companionSecret), d.value.identityKey)) {
    throw new CryptoError('IDENTITY_MISMATCH', 'details.identityKey is not the companion key');
  }
  if (!verify(primaryIdentityKey, ADV_ACCOUNT_SIGNATURE_PREFIX, accountMessage(d), accountSignature)) {
    throw new CryptoError('BAD_SIGNATURE', 'accountSignature does not verify');
  }
  return sign(
    companionSecret,
    ADV_DEVICE_SIGNATURE_PREFIX,
    concatBytes(accountMessage(d), primaryIdentityKey),
  );
}

/** A companion's proof of membership, as the server stores and serves it. */
export interface CompanionProof {
  /** Canonical details bytes (or the object). */
  details: DeviceIdentityDetails | Uint8Array;
  accountSignature: Uint8Array;
  deviceSignature: Uint8Array;
}

/** Checks both ADV signatures of a companion. False if either fails. */
export function verifyCompanion(primaryIdentityKey: Uint8Array, proof: CompanionProof): boolean {
  assertBytes('primaryIdentityKey', primaryIdentityKey, PUBLIC_KEY_LENGTH);
  assertObject('proof', proof);
  assertBytes('proof.accountSignature', proof.accountSignature, SIGNATURE_LENGTH);
  assertBytes('proof.deviceSignature', proof.deviceSignature, SIGNATURE_LENGTH);
  const d = detailsBoth(proof.details);
  const message = accountMessage(d);
  return (
    verify(primaryIdentityKey, ADV_ACCOUNT_SIGNATURE_PREFIX, message, proof.accountSignature) &&
    verify(
      d.value.identityKey,
      ADV_DEVICE_SIGNATURE_PREFIX,
      concatBytes(message, primaryIdentityKey),
      proof.deviceSignature,
    )
  );
}

export interface DeviceListEntry {
  deviceId: number;
  identityKey: Uint8Array;
}

export interface DeviceList {
  accountId: string;
  timestampMs: number;
  /** Increments with every change; clients reject a list older than one they have seen. */
  listIndex: number;
  devices: DeviceListEntry[];
}

/**
 * Canonical bytes: u8 version (1) || accountId (16) || u64be timestampMs || u32be listIndex
 * || u8 count || (u32be deviceId || identityKey (32))* in strictly ascending deviceId order.
 * The list holds 1..5 devices and must include the primary (device 1).
 */
export function encodeDeviceList(list: DeviceList): Uint8Array {
  assertObject('list', list);
  const account = accountIdToBytes('list.accountId', list.accountId);
  assertSafeUint('list.timestampMs', list.timestampMs);
  assertUint32('list.listIndex', list.listIndex);
  assertArray('list.devices', list.devices);
  if (list.devices.length < 1 || list.devices.length > MAX_DEVICES_PER_ACCOUNT) {
    throw invalidArgument('list.devices', `must hold 1..${MAX_DEVICES_PER_ACCOUNT} devices`);
  }
  const devices = list.devices.map((d, i) => {
    assertObject(`list.devices[${i}]`, d);
    assertDeviceId(`list.devices[${i}].deviceId`, d.deviceId);
    assertBytes(`list.devices[${i}].identityKey`, d.identityKey, PUBLIC_KEY_LENGTH);
    return d;
  });
  const sorted = [...devices].sort((a, b) => a.deviceId - b.deviceId);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.deviceId === sorted[i - 1]!.deviceId)
      throw invalidArgument('list.devices', 'has a duplicate deviceId');
  }
  if (sorted[0]!.deviceId !== PRIMARY_DEVICE_ID)
    throw invalidArgument('list.devices', 'must include the primary (device 1)');
  return concatBytes(
    u8(DEVICE_LIST_VERSION),
    account,
    u64be(list.timestampMs),
    u32be(list.listIndex),
    u8(sorted.length),
    ...sorted.flatMap((d) => [u32be(d.deviceId), d.identityKey]),
  );
}

export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  assertBytes('bytes', bytes);
  const r = new ByteReader(bytes, 'device list');
  const version = r.u8();
  if (version !== DEVICE_LIST_VERSION)
    throw new CryptoError('UNSUPPORTED_VERSION', `device list version ${version}`);
  const accountId = bytesToAccountId(r.bytesN(16));
  const timestampMs = r.u64();
  const listIndex = r.u32();
  const count = r.u8();
  if (count < 1 || count > MAX_DEVICES_PER_ACCOUNT)
    throw new CryptoError('BAD_FORMAT', 'device list: bad device count');
  const devices: DeviceListEntry[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = r.u32();
    const identityKey = r.copyN(32);
    const prev = devices[i - 1];
    if (deviceId === 0 || (prev !== undefined && deviceId <= prev.deviceId)) {
      throw new CryptoError('BAD_FORMAT', 'device list: device ids must be >= 1 and strictly ascending');
    }
    devices.push({ deviceId, identityKey });
  }
  r.end();
  if (devices[0]!.deviceId !== PRIMARY_DEVICE_ID)
    throw new CryptoError('BAD_FORMAT', 'device list: no primary device');
  return { accountId, timestampMs, listIndex, devices };
}

/** Signs the canonical list: signature = Ed25519(primary, 0x06 0x02 || listBytes). */
export function signDeviceList(
  primarySecret: Uint8Array,
  list: DeviceList,
): { listBytes: Uint8Array; signature: Uint8Array } {
  assertBytes('primarySecret', primarySecret, SECRET_KEY_LENGTH);
  const listBytes = encodeDeviceList(list);
  return { listBytes, signature: sign(primarySecret, ADV_DEVICE_LIST_PREFIX, listBytes) };
}

export function verifyDeviceList(
  primaryIdentityKey: Uint8Array,
  listBytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  assertBytes('primaryIdentityKey', primaryIdentityKey, PUBLIC_KEY_LENGTH);
  assertBytes('listBytes', listBytes);
  assertBytes('signature', signature, SIGNATURE_LENGTH);
  return verify(primaryIdentityKey, ADV_DEVICE_LIST_PREFIX, listBytes, signature);
}

/**
 * The client-side check before trusting an account's devices (DESIGN.md invariant 4). Verifies
 * the list signature, that the list's device 1 is the primary key, and for every companion in the
 * list exactly one proof whose details match it (account, device id, identity key) and whose two
 * signatures verify. Any companion proof not in the list, any listed companion without a valid
 * proof, or a bad signature rejects the whole set (fail closed). Returns the decoded list; the
 * caller also rejects a listIndex lower than the last one it accepted for this account.
 * Errors: BAD_SIGNATURE, UNKNOWN_DEVICE, IDENTITY_MISMATCH, BAD_FORMAT, INVALID_ARGUMENT.
 */
export function verifyAccountDevices(
  primaryIdentityKey: Uint8Array,
  deviceListBytes: Uint8Array,
  listSignature: Uint8Array,
  companions: CompanionProof[],
): DeviceList {
  assertBytes('primaryIdentityKey', primaryIdentityKey, PUBLIC_KEY_LENGTH);
  assertArray('companions', companions);
  if (!verifyDeviceList(primaryIdentityKey, deviceListBytes, listSignature)) {
    throw new CryptoError('BAD_SIGNATURE', 'device list signature does not verify');
  }
  const list = decodeDeviceList(deviceListBytes);
  if (!equalBytes(list.devices[0]!.identityKey, primaryIdentityKey)) {
    throw new CryptoError('IDENTITY_MISMATCH', 'device 1 in the list is not the primary identity key');
  }
  const proven = new Set<number>();
  companions.forEach((proof, i) => {
    assertObject(`companions[${i}]`, proof);
    const d = detailsBoth(proof.details).value;
    const entry = list.devices.find((e) => e.deviceId === d.deviceId);
    if (entry === undefined || d.accountId !== list.accountId) {
      throw new CryptoError(
        'UNKNOWN_DEVICE',
        `companions[${i}] (device ${d.deviceId}) is not in the signed device list`,
      );
    }
    if (!equalBytes(entry.identityKey, d.identityKey)) {
      throw new CryptoError(
        'IDENTITY_MISMATCH',
        `companions[${i}] identity key differs from the signed device list`,
      );
    }
    if (proven.has(d.deviceId)) throw invalidArgument(`companions[${i}]`, 'duplicates another proof');
    if (!verifyCompanion(primaryIdentityKey, proof)) {
      throw new CryptoError(
        'BAD_SIGNATURE',
        `companions[${i}] (device ${d.deviceId}) signatures do not verify`,
      );
    }
    proven.add(d.deviceId);
  });
  for (const entry of list.devices) {
    if (entry.deviceId !== PRIMARY_DEVICE_ID && !proven.has(entry.deviceId)) {
      throw new CryptoError(
        'UNKNOWN_DEVICE',
        `device ${entry.deviceId} is listed but has no companion proof`,
      );
    }
  }
  return list;
}
