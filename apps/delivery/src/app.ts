import { randomUUID } from 'node:crypto';
import {
  MAX_ACK_BATCH,
  MAX_CIPHERTEXT_BYTES,
  MAX_COPIES_PER_SEND,
  MAX_HISTORY_BLOB_BYTES,
  MAX_HISTORY_CHUNK_BYTES,
  MAX_HISTORY_CHUNKS,
  MAX_PAGE_BYTES,
  MAX_PAGE_SIZE,
  MAX_STALE_AGE_MS,
  MAX_STALE_CHECK_DEVICES,
  MAX_STALE_COPIES_PER_DEVICE,
  subjects,
} from '@tandem/proto';
import {
  closeNats,
  connectNats,
  createLogger,
  createMetricsRegistry,
  type Logger,
  type NatsConnection,
  natsReady,
  type OpsServer,
  startOpsServer,
} from '@tandem/service-kit';
import { Cluster, Redis } from 'ioredis';
import { type Clock, systemClock } from './clock.js';
import type { DeliveryConfig } from './config.js';
import { createDeliveryCore, type DeliveryLimits, settingsFrom } from './core.js';
import { createDeliveryMetrics } from './metrics.js';
import { registerDeliveryHandlers } from './nats/handlers.js';
import { NatsInboxPublisher } from './nats/publisher.js';
import type { DeliveryService } from './service/delivery-service.js';
import { Sweeper } from './service/sweeper.js';
import type { RedisClient } from './store/lua.js';

export { type Clock, ManualClock, systemClock } from './clock.js';
export { type DeliveryConfig, loadDeliveryConfig } from './config.js';
export { createDeliveryCore, type DeliveryCore, settingsFrom } from './core.js';
export type { DeliveryService } from './service/delivery-service.js';

/** The protocol limits delivery enforces, from @tandem/proto. */
export const PROTO_LIMITS: DeliveryLimits = {
  maxCopiesPerSend: MAX_COPIES_PER_SEND,
  maxCiphertextBytes: MAX_CIPHERTEXT_BYTES,
  // CLIENT_MESSAGE_ID_PATTERN allows 1..64 characters.
  maxClientMessageIdLength: 64,
  maxPageSize: MAX_PAGE_SIZE,
  maxPageBytes: MAX_PAGE_BYTES,
  maxAckIds: MAX_ACK_BATCH,
  maxStaleDevices: MAX_STALE_CHECK_DEVICES,
  maxStaleCopiesPerDevice: MAX_STALE_COPIES_PER_DEVICE,
  maxStaleAgeMs: MAX_STALE_AGE_MS,
  historyMaxBytes: MAX_HISTORY_BLOB_BYTES,
  historyMaxChunkBytes: MAX_HISTORY_CHUNK_BYTES,
  historyMaxChunks: MAX_HISTORY_CHUNKS,
};

export interface DeliveryApp {
  readonly logger: Logger;
  /** A `Cluster` when REDIS_CLUSTER is true. */
  readonly redis: RedisClient;
  readonly nats: NatsConnection;
  readonly ops: OpsServer;
  readonly service: DeliveryService;
  /** Undefined when SWEEPER_ENABLED is false. */
  readonly sweeper: Sweeper | undefined;
  /** Stops taking requests, lets in-flight ones finish, then closes NATS and Redis. */
  stop(): Promise<void>;
}

export interface DeliveryOptions {
  logger?: Logger;
  /** Time source for TTLs (tests inject a ManualClock). */
  clock?: Clock;
}

/** A single-node client, or a cluster client seeded with REDIS_URL when REDIS_CLUSTER is set. */
export function createRedis(config: Pick<DeliveryConfig, 'REDIS_URL' | 'REDIS_CLUSTER'>): RedisClient {
  if (!config.REDIS_CLUSTER) {
    return new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: null });
  }
  const url = new URL(config.REDIS_URL);
  return new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
    lazyConnect: true,
    // No enableAutoPipelining: with it, ioredis drops the command name of generic `call`s
    // (EVALSHA here). Concurrent commands still go out without waiting for each other.
    redisOptions: {
      maxRetriesPerRequest: null,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
}

/** Starts one delivery instance: Redis queues, NATS handlers, expiry sweeper, ops endpoints. */
export async function startDelivery(
  config: DeliveryConfig,
  options: DeliveryOptions = {},
): Promise<DeliveryApp> {
  const logger = options.logger ?? createLogger({ service: 'delivery', level: config.LOG_LEVEL });
  const clock = options.clock ?? systemClock;
  const redis = createRedis(config);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
  await redis.connect();
  const nats = await connectNats({ servers: config.NATS_URL, name: 'delivery', logger });
  const catalog = subjects(config.NATS_SUBJECT_PREFIX);
  const registry = createMetricsRegistry('delivery');
  const core = await createDeliveryCore({
    redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    expiryShards: config.EXPIRY_SHARDS,
    settings: settingsFrom(config, PROTO_LIMITS),
    publisher: new NatsInboxPublisher(nats, catalog),
    clock,
    metrics: createDeliveryMetrics(registry),
    onPublishError: (err) => logger.warn({ err }, 'inbox publish failed; copies stay queued'),
  });
  const handlers = registerDeliveryHandlers(nats, catalog, core.service, logger);
  const sweeper = config.SWEEPER_ENABLED
    ? new Sweeper(core.service, core.queues, {
        intervalMs: config.SWEEP_INTERVAL_MS,
        lockTtlMs: Math.max(config.SWEEP_INTERVAL_MS * 10, 30_000),
        token: randomUUID(),
        onError: (err, shard) => logger.error({ err, shard }, 'sweep failed'),
      })
    : undefined;
  sweeper?.start();
  let draining = false;
  const ops = await startOpsServer({
    host: config.OPS_HOST,
    port: config.OPS_PORT,
    registry,
    isDraining: () => draining,
    checks: [
      { name: 'redis', check: async () => (await redis.ping()) === 'PONG' },
      { name: 'nats', check: () => natsReady(nats) },
    ],
  });
  logger.info({ opsPort: ops.port, subjectPrefix: config.NATS_SUBJECT_PREFIX }, 'delivery ready');
  return {
    logger,
    redis,
    nats,
    ops,
    service: core.service,
    sweeper,
    async stop() {
      draining = true;
      await handlers.drain();
      await sweeper?.stop();
      await closeNats(nats);
      await ops.close();
      await redis.quit();
    },
  };
}
