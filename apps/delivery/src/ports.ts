/**
 * The I/O the delivery service depends on, as interfaces: Redis repositories (src/store) and the
 * NATS publisher (src/nats) implement them; unit tests use in-memory fakes.
 */
import type { CopyMeta, DeviceAddress, Page, PendingReceipt, QueuedCopy } from './domain.js';

export interface Caps {
  /** 0 = no cap. */
  readonly maxCopies: number;
  /** 0 = no cap. */
  readonly maxBytes: number;
}

export interface CapacityQuery extends Caps {
  readonly recipient: DeviceAddress;
  readonly idemField: string;
  readonly size: number;
}

export type CapacityResult = 'ok' | 'copies' | 'bytes';

export interface StoreRequest extends Caps {
  readonly recipient: DeviceAddress;
  readonly idemField: string;
  /** Used only if the copy is new. */
  readonly serverId: string;
  readonly meta: CopyMeta;
  readonly payload: Uint8Array;
  readonly expiresAtMs: number;
}

export type StoreResult =
  | { readonly status: 'stored'; readonly serverId: string; readonly seq: number }
  | {
      /** Stored by an earlier attempt: its id, seq, expiry and meta as first stored. */
      readonly status: 'existing';
      readonly serverId: string;
      readonly seq: number;
      readonly expiresAtMs: number;
      readonly meta: CopyMeta;
      readonly payload: Uint8Array;
    }
  | { readonly status: 'full'; readonly reason: 'copies' | 'bytes' };

export interface RemoveResult {
  /** Copies removed from the queue. */
  readonly removed: number;
  /** Next time the device needs the sweeper (ms); -1 when it holds nothing. */
  readonly nextDueMs: number;
  /** Receipts now leased to the caller, to be queued to their senders. */
  readonly pending: readonly PendingReceipt[];
  /** Outbox entries that could not be read (to be dropped with outboxDone). */
  readonly unreadable: readonly string[];
}

export interface StaleCopy {
  readonly serverId: string;
  readonly seq: number;
}

export interface QueueRepository {
  readonly shardCount: number;
  /** Read-only capacity check of several device queues, one round trip. */
  checkCapacity(queries: readonly CapacityQuery[]): Promise<CapacityResult[]>;
  /** Stores copies (one script per device queue, pipelined) and indexes them for expiry. */
  store(requests: readonly StoreRequest[]): Promise<StoreResult[]>;
  /** At most `limit` copies and `maxBytes` of payload (but at least one copy when any is queued). */
  readPage(
    device: DeviceAddress,
    afterSeq: number,
    limit: number,
    maxBytes: number,
    nowMs: number,
  ): Promise<Page>;
  /**
   * Per device (one script each, pipelined): at most `limit` unexpired copies stored at least
   * `minAgeMs` ago by the store's clock, oldest first, as ids and seqs.
   */
  staleCopies(
    devices: readonly DeviceAddress[],
    minAgeMs: number,
    limit: number,
    nowMs: number,
  ): Promise<StaleCopy[][]>;
  /** Resolves once the store answers (readiness). */
  ping(): Promise<void>;
  ack(device: DeviceAddress, serverIds: readonly string[], leaseUntilMs: number): Promise<RemoveResult>;
  expire(device: DeviceAddress, nowMs: number, limit: number, leaseUntilMs: number): Promise<RemoveResult>;
  /** Drops outbox entries whose receipts are queued; returns the device's next due time (-1 = empty). */
  outboxDone(device: DeviceAddress, copyServerIds: readonly string[]): Promise<number>;
  /** Brings the device's entry in its expiry-index shard in line with its next due time. */
  reconcileIndex(device: DeviceAddress, nextDueMs: number): Promise<void>;
  /** Devices of one shard due at `nowMs`. */
  dueDevices(shard: number, nowMs: number, limit: number): Promise<DeviceAddress[]>;
  lockShard(shard: number, token: string, ttlMs: number): Promise<boolean>;
  unlockShard(shard: number, token: string): Promise<void>;
  /** Deletes a device's queue and its expiry-index entry; returns the copies dropped. */
  revoke(device: DeviceAddress): Promise<number>;
}

/** Pushes stored copies to the inbox subjects of their devices (all published, one flush). */
export interface InboxPublisher {
  publish(items: readonly { device: DeviceAddress; copy: QueuedCopy }[]): Promise<void>;
}

export interface BlobHeader {
  readonly uploader: DeviceAddress;
  readonly recipient: DeviceAddress;
  readonly totalChunks: number;
  readonly totalSize: number;
}

export type PutChunkResult =
  | { readonly status: 'ok'; readonly chunksStored: number; readonly complete: boolean }
  | {
      readonly status: 'rejected';
      readonly reason: 'not_found' | 'header' | 'too_large' | 'order' | 'size';
    };

export type GetChunkResult =
  | {
      readonly status: 'ok';
      readonly chunk: Uint8Array;
      readonly totalChunks: number;
      readonly totalSize: number;
      readonly deleted: boolean;
    }
  | { readonly status: 'not_found' | 'forbidden' | 'incomplete' | 'out_of_range' };

export interface BlobRepository {
  /** `mode` 'new': chunk 0 creating the blob; 'existing': a chunk of a blob that must exist. */
  putChunk(
    blobId: string,
    mode: 'new' | 'existing',
    header: BlobHeader,
    index: number,
    chunk: Uint8Array,
    expiresAtMs: number,
    ttlMs: number,
    maxSize: number,
  ): Promise<PutChunkResult>;
  getChunk(blobId: string, requester: DeviceAddress, index: number, nowMs: number): Promise<GetChunkResult>;
  /** Deletes every blob addressed to the device (it was revoked); returns how many. */
  purgeFor(device: DeviceAddress): Promise<number>;
}

/** What the service counts and times (src/metrics.ts implements it with prom-client). */
export interface DeliveryMetrics {
  copiesAccepted(n: number): void;
  copiesAcked(n: number): void;
  copiesExpired(n: number): void;
  receiptsQueued(n: number): void;
  /** Runs `fn`, recording its duration under `op`. */
  time<T>(op: string, fn: () => Promise<T>): Promise<T>;
}

export const noMetrics: DeliveryMetrics = {
  copiesAccepted: () => {},
  copiesAcked: () => {},
  copiesExpired: () => {},
  receiptsQueued: () => {},
  time: (_op, fn) => fn(),
};
