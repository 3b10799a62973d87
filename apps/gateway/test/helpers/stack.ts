import { createHash } from 'node:crypto';
import { type DeliveryApp, loadDeliveryConfig, startDelivery } from '@tandem/delivery';
import {
  InMemoryCodeSender,
  loadRegistryConfig,
  type RegistryApp,
  startRegistry,
} from '@tandem/device-registry';
import { applyMigrations, readMigrations } from '@tandem/device-registry/migrate';
import { type SubjectCatalog, subjects } from '@tandem/proto';
import { createLogger, type Logger } from '@tandem/service-kit';
import {
  createTestDatabase,
  createTestNats,
  createTestRedis,
  type TestDatabase,
  type TestNats,
  type TestRedis,
} from '@tandem/testkit';
import type { GatewayApp } from '../../src/app.js';
import { startTestGateway } from './gateway.js';

/**
 * A whole Tandem in this process, isolated for one test file: its own Postgres database (cloned
 * from the registry's migrated template), Redis key prefix and NATS subject prefix; a registry,
 * a delivery and `gateways` gateway instances.
 */
export interface Stack {
  nats: TestNats;
  db: TestDatabase;
  redis: TestRedis;
  catalog: SubjectCatalog;
  codes: InMemoryCodeSender;
  registry: RegistryApp;
  delivery: DeliveryApp;
  gateways: GatewayApp[];
  startGateway(env?: Record<string, string>, logger?: Logger): Promise<GatewayApp>;
  close(): Promise<void>;
}

async function registryDatabase(): Promise<TestDatabase> {
  const migrations = await readMigrations();
  const schemaKey = `device-registry:${createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex')}`;
  return createTestDatabase({ schemaKey, migrate: async (url) => void (await applyMigrations(url)) });
}

const silent = (service: string) => createLogger({ service, level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export async function startStack(
  options: {
    gateways?: number;
    gatewayEnv?: Record<string, string>;
    registryEnv?: Record<string, string>;
    deliveryEnv?: Record<string, string>;
  } = {},
): Promise<Stack> {
  const [nats, db, redis] = await Promise.all([createTestNats(), registryDatabase(), createTestRedis()]);
  const codes = new InMemoryCodeSender();
  const registry = await startRegistry(
    loadRegistryConfig({
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '5',
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: nats.prefix,
      OPS_PORT: '0',
      OPS_HOST: '127.0.0.1',
      SWEEP_INTERVAL_MS: '0',
      ...options.registryEnv,
    }),
    { logger: silent('device-registry'), codeSender: codes },
  );
  const delivery = await startDelivery(
    loadDeliveryConfig({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: nats.prefix,
      OPS_PORT: '0',
      OPS_HOST: '127.0.0.1',
      ...options.deliveryEnv,
    }),
    { logger: silent('delivery') },
  );
  const gateways: GatewayApp[] = [];
  const startGateway = async (env: Record<string, string> = {}, logger?: Logger) => {
    const g = await startTestGateway(nats.url, nats.prefix, { ...options.gatewayEnv, ...env }, logger);
    gateways.push(g);
    return g;
  };
  for (let i = 0; i < (options.gateways ?? 1); i++) await startGateway();
  return {
    nats,
    db,
    redis,
    catalog: subjects(nats.prefix),
    codes,
    registry,
    delivery,
    gateways,
    startGateway,
    async close() {
      await Promise.allSettled(gateways.map((g) => g.stop()));
      await Promise.allSettled([registry.stop(), delivery.stop()]);
      await nats.close();
      await redis.cleanup();
      await db.drop();
    },
  };
}
