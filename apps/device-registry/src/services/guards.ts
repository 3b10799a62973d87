/**
 * Checks shared by the services: addresses, the state a device must be in to act, and the
 * signatures of key sets and device lists. Reads go through the repositories; nothing is written.
 */
import type { DeviceListContent, RegistryCrypto } from '../crypto/verifier.js';
import { BadSignatureError, InvalidArgumentError, InvalidKeyError, RegistryError } from '../domain/errors.js';
import type { DeviceAddress, DeviceRecord, PrekeyUpload, SignedDeviceList } from '../domain/types.js';
import * as v from '../domain/validation.js';
import type { DevicesRepository } from '../repositories/devices.repository.js';

export function address(field: string, a: DeviceAddress | undefined): DeviceAddress {
  if (!a) throw new InvalidArgumentError(field, 'is required');
  return {
    accountId: v.uuid(`${field}.accountId`, a.accountId),
    deviceId: v.uint32(`${field}.deviceId`, a.deviceId),
  };
}

/**
 * Loads a device that must be active to act (linked and not revoked). Unknown and still-linking
 * devices are DEVICE_NOT_FOUND; revoked ones DEVICE_REVOKED.
 */
export async function requireActive(devices: DevicesRepository, a: DeviceAddress): Promise<DeviceRecord> {
  const d = await devices.get(a);
  if (!d || d.linkedAt === null) throw new RegistryError('DEVICE_NOT_FOUND', 'device not found');
  if (d.revokedAt !== null) throw new RegistryError('DEVICE_REVOKED', 'device was unlinked');
  return d;
}

export async function requirePrimary(devices: DevicesRepository, a: DeviceAddress): Promise<DeviceRecord> {
  const d = await requireActive(devices, a);
  if (!d.isPrimary) throw new RegistryError('NOT_PRIMARY', 'only the primary device may do this');
  return d;
}

/** Verifies and decodes a signed device list of the primary; BAD_SIGNATURE or INVALID_ARGUMENT otherwise. */
export function openList(
  crypto: RegistryCrypto,
  primaryKey: Uint8Array,
  signed: SignedDeviceList,
): DeviceListContent {
  v.bytesUpTo('signedList.list', signed.list, v.LIMITS.maxDeviceListBytes);
  v.bytesOfLength('signedList.signature', signed.signature, v.LIMITS.signatureBytes);
  const content = crypto.openDeviceList(primaryKey, signed);
  if (content === 'BAD_SIGNATURE') throw new BadSignatureError('signedList.signature');
  if (content === 'MALFORMED') {
    throw new InvalidArgumentError(
      'signedList.list',
      'is not a canonical device list starting with the primary',
    );
  }
  return content;
}

/** Checks every signature of a key set with the identity key; the first bad one names its field. */
export function verifyKeySet(crypto: RegistryCrypto, identityKey: Uint8Array, keys: PrekeyUpload): void {
  if (keys.signedPrekey && !crypto.verifySignedPrekey(identityKey, keys.signedPrekey)) {
    throw new BadSignatureError('signedPrekey.signature');
  }
  const pqKeys = [
    ...keys.pqPrekeys.map((k, i) => [k, `pqPrekeys[${i}].publicKey`] as const),
    ...(keys.pqLastResortPrekey ? [[keys.pqLastResortPrekey, 'pqLastResortPrekey.publicKey'] as const] : []),
  ];
  for (const [k, field] of pqKeys) {
    if (!crypto.validPqPublicKey(k.publicKey))
      throw new InvalidKeyError(field, 'is not a valid ML-KEM-768 key');
  }
  keys.pqPrekeys.forEach((k, i) => {
    if (!crypto.verifyPqPrekey(identityKey, k, false))
      throw new BadSignatureError(`pqPrekeys[${i}].signature`);
  });
  if (keys.pqLastResortPrekey && !crypto.verifyPqPrekey(identityKey, keys.pqLastResortPrekey, true)) {
    throw new BadSignatureError('pqLastResortPrekey.signature');
  }
}
