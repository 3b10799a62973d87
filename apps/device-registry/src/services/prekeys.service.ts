import type { RegistryCrypto } from '../crypto/verifier.js';
import { InvalidArgumentError, RateLimitedError, RegistryError } from '../domain/errors.js';
import type { RegistryEvents } from '../domain/events.js';
import type { BucketRule } from '../domain/token-bucket.js';
import type { DeviceAddress, DeviceBundle, PrekeyCounts, PrekeyUpload } from '../domain/types.js';
import * as v from '../domain/validation.js';
import type { DevicesRepository } from '../repositories/devices.repository.js';
import type { PrekeysRepository } from '../repositories/prekeys.repository.js';
import type { RateLimiter } from '../repositories/rate-limit.repository.js';
import { address, requireActive, verifyKeySet } from './guards.js';

export interface PrekeySettings {
  lowThreshold: number;
  claimRule: BucketRule;
}

export class PrekeysService {
  constructor(
    private readonly prekeys: PrekeysRepository,
    private readonly devices: DevicesRepository,
    private readonly crypto: RegistryCrypto,
    private readonly limiter: RateLimiter,
    private readonly events: RegistryEvents,
    private readonly settings: PrekeySettings,
  ) {}

  /** Every signature is checked before anything is written; a one-time batch replaces the unused pool. */
  async upload(raw: DeviceAddress | undefined, upload: PrekeyUpload): Promise<PrekeyCounts> {
    const a = address('device', raw);
    const keys = v.partialPrekeyUpload(upload);
    const device = await requireActive(this.devices, a);
    verifyKeySet(this.crypto, device.identityKey, keys);
    const counts = await this.prekeys.upload(a, keys, this.settings.lowThreshold);
    if (!counts) throw new RegistryError('DEVICE_REVOKED', 'device was unlinked');
    return counts;
  }

  async count(raw: DeviceAddress | undefined): Promise<PrekeyCounts> {
    const a = address('device', raw);
    await requireActive(this.devices, a);
    return this.prekeys.counts(a);
  }

  /**
   * One bundle per listed (or every) active device of the account. Each one-time key is handed out
   * once; an empty pool gives a bundle without one (EC) or with the last-resort key (PQ).
   */
  async claim(
    requesterRaw: DeviceAddress | undefined,
    accountIdRaw: string,
    deviceIdsRaw: readonly number[],
  ): Promise<{ accountId: string; bundles: DeviceBundle[] }> {
    const requester = address('requester', requesterRaw);
    const accountId = v.uuid('accountId', accountIdRaw);
    if (deviceIdsRaw.length > v.LIMITS.maxDevicesPerAccount) {
      throw new InvalidArgumentError('deviceIds', `must hold at most ${v.LIMITS.maxDevicesPerAccount} ids`);
    }
    const deviceIds = deviceIdsRaw.map((id, i) => v.uint32(`deviceIds[${i}]`, id));
    if (new Set(deviceIds).size !== deviceIds.length)
      throw new InvalidArgumentError('deviceIds', 'must be unique');
    const waitMs = await this.limiter.take(
      `claim:${requester.accountId}:${requester.deviceId}:${accountId}`,
      this.settings.claimRule,
    );
    if (waitMs > 0) throw new RateLimitedError(waitMs);
    const result = await this.prekeys.claim(
      accountId,
      deviceIds.length > 0 ? deviceIds : null,
      this.settings.lowThreshold,
    );
    if (!result) throw new RegistryError('ACCOUNT_NOT_FOUND', 'account not found');
    if (result.missing.length > 0) {
      throw new RegistryError('DEVICE_NOT_FOUND', `no active device ${result.missing.join(',')}`);
    }
    if (result.outcome.bundles.length === 0)
      throw new RegistryError('DEVICE_NOT_FOUND', 'account has no active device');
    for (const deviceId of result.outcome.newlyLow) {
      this.events.prekeysLow({ accountId, deviceId }, result.outcome.remaining.get(deviceId)!);
    }
    return { accountId, bundles: result.outcome.bundles };
  }
}
