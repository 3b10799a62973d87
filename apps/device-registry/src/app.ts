import { subjects } from '@tandem/proto';
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
import type { RegistryConfig } from './config.js';
import { tandemRegistryCrypto } from './crypto/tandem-crypto.js';
import type { RegistryCrypto } from './crypto/verifier.js';
import { applyMigrations } from './db/migrate.js';
import { createPrisma, type PrismaClient } from './db/prisma.js';
import { type Clock, systemClock } from './domain/clock.js';
import { type CodeSender, LogCodeSender } from './domain/code-sender.js';
import { createRegistryMetrics } from './metrics.js';
import { registerHandlers } from './nats/handlers.js';
import { NatsRegistryEvents } from './nats/publisher.js';
import { PrismaAccountsRepository } from './repositories/accounts.repository.js';
import { PrismaDevicesRepository } from './repositories/devices.repository.js';
import { PrismaLinksRepository } from './repositories/links.repository.js';
import { PrismaPrekeysRepository } from './repositories/prekeys.repository.js';
import { PostgresRateLimiter } from './repositories/rate-limit.repository.js';
import { DevicesService } from './services/devices.service.js';
import { LinkingService } from './services/linking.service.js';
import { PrekeysService } from './services/prekeys.service.js';
import { RegistrationService } from './services/registration.service.js';
import { SweeperService } from './services/sweeper.service.js';

export { loadRegistryConfig, type RegistryConfig } from './config.js';
export type { RegistryCrypto } from './crypto/verifier.js';
export { type Clock, ManualClock, systemClock } from './domain/clock.js';
export { type CodeSender, InMemoryCodeSender, LogCodeSender } from './domain/code-sender.js';

export interface RegistryApp {
  readonly logger: Logger;
  readonly prisma: PrismaClient;
  readonly nats: NatsConnection;
  readonly ops: OpsServer;
  /** The periodic job, exposed so tests (and operators' tooling) can run one sweep now. */
  readonly sweeper: SweeperService;
  /** Stops taking requests, lets in-flight ones finish, then closes NATS and Postgres. */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  logger?: Logger;
  /** Where verification codes go; defaults to the log (LogCodeSender). */
  codeSender?: CodeSender;
  /** Time source of every expiry and rate limit; tests pass a ManualClock. */
  clock?: Clock;
  /** Signature checks; defaults to @tandem/crypto. */
  crypto?: RegistryCrypto;
}

/** Starts one device-registry instance: Postgres through Prisma, NATS handlers, ops endpoints. */
export async function startRegistry(
  config: RegistryConfig,
  options: RegistryOptions = {},
): Promise<RegistryApp> {
  const logger = options.logger ?? createLogger({ service: 'device-registry', level: config.LOG_LEVEL });
  const clock = options.clock ?? systemClock;
  const crypto = options.crypto ?? tandemRegistryCrypto;
  if (config.MIGRATE_ON_START) {
    const applied = await applyMigrations(config.DATABASE_URL);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  }
  const prisma = createPrisma(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  await prisma.$queryRaw`SELECT 1`;
  const nats = await connectNats({ servers: config.NATS_URL, name: 'device-registry', logger });
  const metricsRegistry = createMetricsRegistry('device-registry');
  const metrics = createRegistryMetrics(metricsRegistry);
  const catalog = subjects(config.NATS_SUBJECT_PREFIX);
  const events = new NatsRegistryEvents(nats, catalog, logger, metrics);

  const accounts = new PrismaAccountsRepository(prisma);
  const devicesRepo = new PrismaDevicesRepository(prisma);
  const prekeysRepo = new PrismaPrekeysRepository(prisma);
  const linksRepo = new PrismaLinksRepository(prisma);
  const limiter = new PostgresRateLimiter(prisma, clock);

  const services = {
    registration: new RegistrationService(
      accounts,
      options.codeSender ?? new LogCodeSender(logger),
      crypto,
      clock,
      {
        codeTtlMs: config.VERIFICATION_CODE_TTL_MS,
        maxAttempts: config.VERIFICATION_MAX_ATTEMPTS,
        requestsPerWindow: config.VERIFICATION_REQUESTS_PER_WINDOW,
        requestWindowMs: config.VERIFICATION_REQUEST_WINDOW_MS,
      },
    ),
    devices: new DevicesService(devicesRepo, crypto, clock, events),
    prekeys: new PrekeysService(prekeysRepo, devicesRepo, crypto, limiter, events, {
      lowThreshold: config.PREKEY_LOW_THRESHOLD,
      claimRule: { capacity: config.CLAIM_RATE_CAPACITY, refillPerSec: config.CLAIM_RATE_REFILL_PER_SEC },
    }),
    linking: new LinkingService(linksRepo, devicesRepo, crypto, clock, events, {
      sessionTtlMs: config.LINK_SESSION_TTL_MS,
    }),
  };
  const sweeper = new SweeperService(
    devicesRepo,
    linksRepo,
    clock,
    events,
    { inactivityDays: config.COMPANION_INACTIVITY_DAYS },
    logger,
  );
  const handlers = registerHandlers(nats, catalog, services, metrics, logger);
  const stopSweeper = config.SWEEP_INTERVAL_MS > 0 ? sweeper.start(config.SWEEP_INTERVAL_MS) : async () => {};

  let draining = false;
  const ops = await startOpsServer({
    host: config.OPS_HOST,
    port: config.OPS_PORT,
    registry: metricsRegistry,
    isDraining: () => draining,
    checks: [
      {
        name: 'postgres',
        check: async () => {
          await prisma.$queryRaw`SELECT 1`;
          return true;
        },
      },
      { name: 'nats', check: () => natsReady(nats) },
    ],
  });
  logger.info({ opsPort: ops.port, subjectPrefix: config.NATS_SUBJECT_PREFIX }, 'device-registry ready');
  let stopping: Promise<void> | undefined;
  return {
    logger,
    prisma,
    nats,
    ops,
    sweeper,
    stop() {
      stopping ??= (async () => {
        draining = true;
        await stopSweeper();
        if (!nats.isClosed()) {
          // Stop receiving (NATS moves new requests to the other instances), answer what arrived.
          await Promise.allSettled(handlers.subscriptions.map((sub) => sub.drain()));
          await handlers.idle();
          await closeNats(nats);
        }
        await ops.close();
        await prisma.$disconnect();
      })();
      return stopping;
    },
  };
}
