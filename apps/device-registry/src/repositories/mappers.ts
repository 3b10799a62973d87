import type { DeviceRecord, LinkSessionRecord } from '../domain/types.js';
import type { Device, LinkSession } from '../generated/prisma/client.js';

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
