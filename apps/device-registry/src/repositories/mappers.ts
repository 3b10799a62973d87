import type { DeviceRecord, LinkSessionRecord } from '../domain/types.js';
import type { Account, Device, DeviceList, LinkSession, Prisma } from '../generated/prisma/client.js';
import type { AccountView } from './devices.repository.js';

export const bytes = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

export function toDeviceRecord(row: Device): DeviceRecord {
  return {
    accountId: row.accountId,
    deviceId: row.deviceId,
    isPrimary: row.isPrimary,
    identityKey: row.identityKey,
    registrationId: row.registrationId,
    name: row.name,
    platform: row.platform,
    createdAt: row.createdAt,
    lastSeenAt: row.lastSeenAt,
    linkedAt: row.linkedAt,
    revokedAt: row.revokedAt,
    identity:
      row.identityDetails && row.accountSignature
        ? {
            details: row.identityDetails,
            accountSignature: row.accountSignature,
            deviceSignature: row.deviceSignature ?? new Uint8Array(0),
          }
        : null,
  };
}

export function toLinkSessionRecord(row: LinkSession): LinkSessionRecord {
  return { ...row };
}

/** What an AccountView is read with: the account's devices not revoked, primary first, and its list. */
export const ACCOUNT_VIEW_INCLUDE = {
  devices: { where: { revokedAt: null }, orderBy: { deviceId: 'asc' } },
  deviceList: true,
} satisfies Prisma.AccountInclude;

export function toAccountView(
  row: Account & { devices: Device[]; deviceList: DeviceList | null },
): AccountView {
  return {
    accountId: row.id,
    nextDeviceId: row.nextDeviceId,
    devices: row.devices.map(toDeviceRecord),
    signedList: row.deviceList
      ? {
          list: row.deviceList.listBytes,
          signature: row.deviceList.signature,
          version: row.deviceList.version,
        }
      : null,
  };
}
