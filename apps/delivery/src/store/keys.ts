import { createHash } from 'node:crypto';
import type { DeviceAddress } from '../domain.js';

/** The four keys of one device queue; all carry the hash tag `{q:<account>:<device>}`. */
export interface QueueKeys {
  /** Sorted set: server id -> seq. */
  readonly order: string;
  /** Sorted set: server id -> expires at (ms). */
  readonly expiry: string;
  /** Hash: payloads, metas, idempotency index, counters, outbox entry bodies. */
  readonly data: string;
  /** Sorted set: server id -> lease until (ms) of pending receipts (outbox). */
  readonly outbox: string;
  /** Set: ids of history blobs addressed to this device (so revocation can purge them). */
  readonly blobs: string;
}

/** Keys of one expiry-index shard; tag `{x:<shard>}`. */
export interface ShardKeys {
  /** Sorted set: '<account>:<device>' -> next due (ms). */
  readonly due: string;
  /** String: sweep lock (SET NX PX) so sweepers split shards instead of racing on one. */
  readonly lock: string;
}

/** Keys of one history blob; tag `{b:<blob id>}`. */
export interface BlobKeys {
  readonly meta: string;
  readonly chunks: string;
}

const SAFE = /^[A-Za-z0-9_.-]+$/;

function assertToken(value: string, what: string): void {
  if (!SAFE.test(value)) throw new TypeError(`${what} is not a safe key token`);
}

/** Builds every key delivery writes; all start with the configured prefix. */
export class KeySpace {
  constructor(
    readonly prefix: string,
    readonly expiryShards: number,
  ) {
    if (!Number.isInteger(expiryShards) || expiryShards < 1)
      throw new RangeError('expiryShards must be >= 1');
  }

  queue(device: DeviceAddress): QueueKeys {
    assertToken(device.accountId, 'accountId');
    const tag = `${this.prefix}{q:${device.accountId}:${device.deviceId}}`;
    return { order: `${tag}:z`, expiry: `${tag}:x`, data: `${tag}:h`, outbox: `${tag}:o`, blobs: `${tag}:b` };
  }

  /** Shard of the expiry index a device belongs to: a stable hash of its address. */
  shardOf(device: DeviceAddress): number {
    const digest = createHash('sha1').update(`${device.accountId}:${device.deviceId}`).digest();
    return digest.readUInt32BE(0) % this.expiryShards;
  }

  shard(shard: number): ShardKeys {
    const tag = `${this.prefix}{x:${shard}}`;
    return { due: `${tag}:due`, lock: `${tag}:lock` };
  }

  blob(blobId: string): BlobKeys {
    assertToken(blobId, 'blobId');
    const tag = `${this.prefix}{b:${blobId}}`;
    return { meta: `${tag}:meta`, chunks: `${tag}:c` };
  }
}

/** Idempotency field of a message copy: (sender device, client message id); the queue names the recipient. */
export const messageIdemField = (sender: DeviceAddress, clientMessageId: string): string =>
  `i:${sender.accountId}:${sender.deviceId}:${clientMessageId}`;

/** Idempotency field of a receipt: one receipt of each kind per recipient copy. */
export const receiptIdemField = (kind: 'delivered' | 'expired', copyServerId: string): string =>
  `i:r:${kind}:${copyServerId}`;
