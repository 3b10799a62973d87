/**
 * The registry's decisions, as pure functions of the state they are given (no I/O, time passed
 * in). The services call them inside the repositories' locked transactions.
 */
import type { DeviceListContent } from '../crypto/verifier.js';
import { DeviceLimitError, RegistryError } from './errors.js';
import type { DeviceRecord, LinkSessionRecord } from './types.js';
import { LIMITS } from './validation.js';

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Companions that occupy a slot: not revoked (including approved ones still completing). */
export const companionCount = (devices: readonly DeviceRecord[]) =>
  devices.filter((d) => !d.isPrimary && d.revokedAt === null).length;

/** A fifth companion is refused, naming how many are linked. */
export function assertCompanionSlotFree(devices: readonly DeviceRecord[], max = LIMITS.maxCompanions): void {
  const linked = companionCount(devices);
  if (linked >= max) throw new DeviceLimitError(linked, max);
}

/** A session can move on only while PENDING (approve) or APPROVED (complete) and before it expires. */
export function assertSessionUsable(
  session: LinkSessionRecord,
  expected: 'PENDING' | 'APPROVED',
  now: Date,
): void {
  if (session.status !== expected) {
    if (session.status === 'PENDING')
      throw new RegistryError('FORBIDDEN', 'link session is not approved yet');
    throw new RegistryError('LINK_ALREADY_USED', `link session is ${session.status.toLowerCase()}`);
  }
  if (session.expiresAt.getTime() <= now.getTime())
    throw new RegistryError('LINK_EXPIRED', 'link session expired');
}

export interface ExpectedDevice {
  deviceId: number;
  identityKey: Uint8Array;
}

/**
 * A signed device list is accepted only if it belongs to the account, lists exactly the expected
 * devices (ids and identity keys) and moves the version forward. A mismatch means the primary's
 * view is stale: CONFLICT, fetch the device list and retry.
 */
export function assertListMatches(
  content: DeviceListContent,
  accountId: string,
  expected: readonly ExpectedDevice[],
  storedVersion: bigint | null,
): void {
  if (content.accountId !== accountId) {
    throw new RegistryError('INVALID_ARGUMENT', 'signed device list names another account', {
      field: 'signedList',
    });
  }
  if (storedVersion !== null && content.version <= storedVersion) {
    throw new RegistryError(
      'CONFLICT',
      `signed device list version ${content.version} is not newer than ${storedVersion}`,
    );
  }
  const byId = new Map(content.devices.map((d) => [d.deviceId, d.identityKey]));
  const sameSet =
    byId.size === content.devices.length &&
    byId.size === expected.length &&
    expected.every((e) => {
      const key = byId.get(e.deviceId);
      return key !== undefined && equalBytes(key, e.identityKey);
    });
  if (!sameSet) {
    const want = expected.map((e) => e.deviceId).join(',');
    const got = content.devices.map((d) => d.deviceId).join(',');
    throw new RegistryError(
      'CONFLICT',
      `signed device list must list exactly devices [${want}], got [${got}]`,
    );
  }
}

export { equalBytes };
