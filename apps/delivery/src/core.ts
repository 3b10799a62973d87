import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import type { DeliveryConfig } from './config.js';
import type { DeliveryMetrics, InboxPublisher } from './ports.js';
import { DeliveryService, type DeliverySettings } from './service/delivery-service.js';
import { RedisBlobStore } from './store/blob-store.js';
import { KeySpace } from './store/keys.js';
import { type RedisClient, ScriptRunner } from './store/lua.js';
import { RedisQueueStore } from './store/queue-store.js';
import { Scripts } from './store/scripts.js';

/** Wire limits delivery enforces (@tandem/proto's limits where it defines them, see limits.ts). */
export interface DeliveryLimits {
  readonly maxCopiesPerSend: number;
  readonly maxCiphertextBytes: number;
  readonly maxClientMessageIdLength: number;
  readonly maxPageSize: number;
  readonly maxPageBytes: number;
  readonly maxAckIds: number;
  readonly maxStaleDevices: number;
  readonly maxStaleCopiesPerDevice: number;
  readonly maxStaleAgeMs: number;
  readonly historyMaxBytes: number;
  readonly historyMaxChunkBytes: number;
  readonly historyMaxChunks: number;
}

export function settingsFrom(config: DeliveryConfig, limits: DeliveryLimits): DeliverySettings {
  return {
    ...limits,
    copyTtlMs: config.COPY_TTL_MS,
    maxQueuedCopies: config.QUEUE_MAX_COPIES,
    maxQueuedBytes: config.QUEUE_MAX_BYTES,
    outboxLeaseMs: config.OUTBOX_LEASE_MS,
    sweepBatch: config.SWEEP_BATCH,
    historyTtlMs: config.HISTORY_TTL_MS,
  };
}

export interface DeliveryCore {
  readonly service: DeliveryService;
  readonly queues: RedisQueueStore;
  readonly blobs: RedisBlobStore;
  readonly keys: KeySpace;
}

export interface DeliveryCoreOptions {
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  readonly expiryShards: number;
  readonly settings: DeliverySettings;
  readonly publisher: InboxPublisher;
  readonly clock: Clock;
  readonly metrics: DeliveryMetrics;
  readonly newId?: () => string;
  readonly onPublishError?: (err: unknown) => void;
}

/** Builds the Redis repositories and the service on one connection, loading every script once. */
export async function createDeliveryCore(options: DeliveryCoreOptions): Promise<DeliveryCore> {
  const scripts = new Scripts();
  const runner = new ScriptRunner(options.redis, scripts.all());
  await runner.loadAll();
  const keys = new KeySpace(options.keyPrefix, options.expiryShards);
  const queues = new RedisQueueStore(options.redis, runner, scripts, keys);
  const blobs = new RedisBlobStore(options.redis, runner, scripts, keys);
  const service = new DeliveryService({
    queues,
    blobs,
    publisher: options.publisher,
    clock: options.clock,
    newId: options.newId ?? randomUUID,
    metrics: options.metrics,
    settings: options.settings,
    ...(options.onPublishError ? { onPublishError: options.onPublishError } : {}),
  });
  return { service, queues, blobs, keys };
}
