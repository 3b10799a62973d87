import type { DeviceListContent, RegistryCrypto } from '../crypto/verifier.js';
import type { Clock } from '../domain/clock.js';
import { InvalidArgumentError, RegistryError } from '../domain/errors.js';
import type { RegistryEvents } from '../domain/events.js';
import { assertListMatches } from '../domain/rules.js';
import type { DeviceAddress, DeviceRecord, DeviceStatus, SignedDeviceList } from '../domain/types.js';
import * as v from '../domain/validation.js';
import type { AccountView, DevicesRepository } from '../repositories/devices.repository.js';
import { address, openList, requireActive } from './guards.js';

const MAX_TOUCH_BATCH = v.LIMITS.maxTouchBatch;
const MAX_DEVICE_LISTS_PER_REQUEST = v.LIMITS.maxDeviceListsPerRequest;

export interface DeviceView {
  device: DeviceRecord;
  status: DeviceStatus;
}

export class DevicesService {
  constructor(
    private readonly devices: DevicesRepository,
    private readonly crypto: RegistryCrypto,
    private readonly clock: Clock,
    private readonly events: RegistryEvents,
  ) {}

  /** What the gateway checks an authenticate frame against. Revoked devices read as REVOKED. */
  async getDevice(raw: DeviceAddress | undefined): Promise<DeviceView> {
    const a = address('device', raw);
    const d = await this.devices.get(a);
    if (!d || (d.linkedAt === null && d.revokedAt === null)) {
      throw new RegistryError('DEVICE_NOT_FOUND', 'device not found');
    }
    return { device: d, status: d.revokedAt === null ? 'ACTIVE' : 'REVOKED' };
  }

  async touch(raw: readonly DeviceAddress[], seenAtMs: number): Promise<number> {
    if (raw.length === 0 || raw.length > MAX_TOUCH_BATCH) {
      throw new InvalidArgumentError('devices', `must hold 1..${MAX_TOUCH_BATCH} addresses`);
    }
    const list = raw.map((a, i) => address(`devices[${i}]`, a));
    const now = this.clock.now().getTime();
    // A seen-at in the future (a skewed gateway clock) is clamped to now.
    const seenAt = new Date(seenAtMs > 0 ? Math.min(seenAtMs, now) : now);
    return this.devices.touch(list, seenAt);
  }

  /** The account's devices with the primary's signatures. Names and platforms only for its own devices. */
  async deviceList(
    requesterRaw: DeviceAddress | undefined,
    accountIdRaw: string,
  ): Promise<{
    view: AccountView;
    own: boolean;
    active: DeviceRecord[];
  }> {
    const requester = address('requester', requesterRaw);
    const accountId = v.uuid('accountId', accountIdRaw);
    const view = await this.devices.account(accountId);
    if (!view) throw new RegistryError('ACCOUNT_NOT_FOUND', 'account not found');
    return {
      view,
      own: requester.accountId === accountId,
      active: view.devices.filter((d) => d.linkedAt !== null),
    };
  }

  /** Compact sets for the gateway's send check; unknown accounts are left out. */
  async deviceSets(accountIdsRaw: readonly string[]) {
    if (accountIdsRaw.length === 0 || accountIdsRaw.length > MAX_DEVICE_LISTS_PER_REQUEST) {
      throw new InvalidArgumentError('accountIds', `must hold 1..${MAX_DEVICE_LISTS_PER_REQUEST} ids`);
    }
    const ids = accountIdsRaw.map((id, i) => v.uuid(`accountIds[${i}]`, id));
    if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('accountIds', 'must be unique');
    return this.devices.activeDeviceSets(ids);
  }

  /**
   * The primary unlinks any companion (with the new signed list, which must list exactly the
   * remaining devices); a companion unlinks only itself (no list). The primary re-signs the list
   * after a companion left by itself (or was swept) by unlinking that device id again with the new
   * list: the list is stored, nothing is revoked twice, no second device_revoked goes out.
   */
  async unlink(requesterRaw: DeviceAddress | undefined, deviceIdRaw: number, signedList?: SignedDeviceList) {
    const requesterAddr = address('requester', requesterRaw);
    const deviceId = v.companionDeviceId('deviceId', deviceIdRaw);
    const requester = await requireActive(this.devices, requesterAddr);
    const accountId = requester.accountId;
    let newList: { list: Uint8Array; signature: Uint8Array; version: bigint } | null = null;
    let content: DeviceListContent | null = null;
    if (requester.isPrimary) {
      if (!signedList) throw new InvalidArgumentError('signedList', 'is required from the primary');
      content = openList(this.crypto, requester.identityKey, signedList);
      newList = { list: signedList.list, signature: signedList.signature, version: content.version };
    } else {
      if (deviceId !== requester.deviceId)
        throw new RegistryError('FORBIDDEN', 'a companion may unlink only itself');
      if (signedList) throw new InvalidArgumentError('signedList', 'must be absent from a companion');
    }
    const now = this.clock.now();
    const revoked = await this.devices.revoke(
      { accountId, deviceId },
      {
        newList,
        check: (view) => {
          if (content) {
            const remaining = view.devices.filter((d) => d.deviceId !== deviceId);
            assertListMatches(content, accountId, remaining, view.signedList?.version ?? null);
          }
        },
      },
      now,
    );
    if (!revoked) throw new RegistryError('DEVICE_NOT_FOUND', 'no such companion');
    if (!revoked.alreadyRevoked) {
      const reason = requester.isPrimary ? 'UNLINKED_BY_PRIMARY' : 'UNLINKED_BY_SELF';
      this.events.deviceRevoked({ accountId, deviceId }, reason);
    }
    this.events.deviceListChanged(accountId);
    return { deviceId };
  }
}
