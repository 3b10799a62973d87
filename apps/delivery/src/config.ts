import { env, loadConfig } from '@tandem/service-kit';
import { z } from 'zod';

export const deliveryConfigSchema = z.object({
  REDIS_URL: env.url(['redis', 'rediss'], 'redis://127.0.0.1:6379'),
  /** Redis Cluster mode: REDIS_URL is then one seed node (user, password and TLS apply to all). */
  REDIS_CLUSTER: env.bool(false),
  /** Prefix of every key this service writes (lets several deployments or test files share one Redis). */
  REDIS_KEY_PREFIX: z.string().max(64).default('tandem:'),
  NATS_URL: env.urls(['nats', 'tls'], 'nats://127.0.0.1:4222'),
  NATS_SUBJECT_PREFIX: env.subjectPrefix('tandem'),
  OPS_HOST: env.string('0.0.0.0'),
  OPS_PORT: env.port(9102),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_TIMEOUT_MS: env.millis(10_000),
  /** Time to live of a queued copy (and of a receipt); the sweeper removes it after this. */
  COPY_TTL_MS: env.millis(30 * 24 * 60 * 60 * 1000),
  /** Time to live of a history blob. */
  HISTORY_TTL_MS: env.millis(24 * 60 * 60 * 1000),
  /** Per-device cap on queued copies; a send past it is refused with QUEUE_FULL. */
  QUEUE_MAX_COPIES: env.int(10_000, 1),
  /** Per-device cap on queued ciphertext bytes; a send past it is refused with QUEUE_FULL. */
  QUEUE_MAX_BYTES: env.int(64 * 1024 * 1024, 1),
  /** Shards of the expiry index (fixed for a deployment: changing it orphans index entries). */
  EXPIRY_SHARDS: env.int(16, 1, 1024),
  /** Whether this instance runs the expiry sweeper. */
  SWEEPER_ENABLED: env.bool(true),
  SWEEP_INTERVAL_MS: env.millis(1000),
  /** Devices per shard, and copies per device, handled in one sweep step. */
  SWEEP_BATCH: env.int(100, 1, 10_000),
  /** How long an instance owns pending receipts it took before another instance retries them. */
  OUTBOX_LEASE_MS: env.millis(30_000),
});

export type DeliveryConfig = z.infer<typeof deliveryConfigSchema>;

export const loadDeliveryConfig = (source?: Record<string, string | undefined>): DeliveryConfig =>
  loadConfig(deliveryConfigSchema, source);
