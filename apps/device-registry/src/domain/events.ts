import type { DeviceAddress, PrekeyCounts, RevokeReason } from './types.js';

export type LinkCancelReason = 'EXPIRED' | 'CANCELLED_BY_COMPANION' | 'CANCELLED_BY_PRIMARY' | 'DEVICE_LIMIT';

/**
 * What the registry tells the rest of the system. Published after the transaction that caused it
 * commits (a publish failure is logged, never undoes the write). Implemented on NATS by
 * src/nats/publisher.ts.
 */
export interface RegistryEvents {
  deviceLinked(device: DeviceAddress): void;
  /** Also tells the gateway holding the device's socket to close it (inbox subject). */
  deviceRevoked(device: DeviceAddress, reason: RevokeReason): void;
  prekeysLow(device: DeviceAddress, counts: PrekeyCounts): void;
  deviceListChanged(accountId: string): void;
  /** The approved link's payload for the waiting companion (link subject). */
  linkPayload(
    linkId: string,
    payload: { accountId: string; deviceId: number; sealedPayload: Uint8Array },
  ): void;
  linkCancelled(linkId: string, reason: LinkCancelReason): void;
}
