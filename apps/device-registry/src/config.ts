import { env, loadConfig } from '@tandem/service-kit';
import { z } from 'zod';

export const registryConfigSchema = z.object({
  DATABASE_URL: env.url(['postgres', 'postgresql']),
  DATABASE_POOL_SIZE: env.int(10, 1, 200),
  NATS_URL: env.urls(['nats', 'tls'], 'nats://127.0.0.1:4222'),
  NATS_SUBJECT_PREFIX: env.subjectPrefix('tandem'),
  OPS_HOST: env.string('0.0.0.0'),
  OPS_PORT: env.port(9101),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_TIMEOUT_MS: env.millis(10_000),
  /** Apply pending migrations at start (npm start does; Kubernetes runs the migrate Job instead). */
  MIGRATE_ON_START: env.bool(false),

  /** How long a companion's link session (QR) stays usable. */
  LINK_SESSION_TTL_MS: env.millis(5 * 60_000),
  /** How long a verification code stays valid. */
  VERIFICATION_CODE_TTL_MS: env.millis(10 * 60_000),
  /** Wrong guesses allowed per verification code before it is burnt. */
  VERIFICATION_MAX_ATTEMPTS: env.int(5, 1, 100),
  /** Codes a handle may request per VERIFICATION_REQUEST_WINDOW_MS. */
  VERIFICATION_REQUESTS_PER_WINDOW: env.int(3, 1, 1000),
  VERIFICATION_REQUEST_WINDOW_MS: env.millis(10 * 60_000),
  /** Companions are unlinked when their primary has not been seen for this many days (WhatsApp: 14). */
  COMPANION_INACTIVITY_DAYS: env.int(14, 1, 3650),
  /** How often the inactivity/cleanup sweep runs (0 disables it on this instance). */
  SWEEP_INTERVAL_MS: env.int(60 * 60_000, 0),
  /** prekeys_low goes out when a device's unused one-time keys drop below this. */
  PREKEY_LOW_THRESHOLD: env.int(10, 0, 10_000),
  /** Bundle claims: token bucket per (requester device, target account). */
  CLAIM_RATE_CAPACITY: env.int(100, 1, 1_000_000),
  CLAIM_RATE_REFILL_PER_SEC: z.coerce.number().positive().default(1),
});

export type RegistryConfig = z.infer<typeof registryConfigSchema>;

export const loadRegistryConfig = (source?: Record<string, string | undefined>): RegistryConfig =>
  loadConfig(registryConfigSchema, source);
