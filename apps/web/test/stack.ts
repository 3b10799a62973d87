// The whole of Tandem in this process for one test file (copied from packages/sdk/test/e2e/stack.ts,
// trimmed): registry, delivery and a gateway on the real Postgres (own database), Redis (own key
// prefix) and NATS (own subject prefix); service logs captured in memory, not printed.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { type DeliveryApp, loadDeliveryConfig, startDelivery } from '@tandem/delivery';
import {
  InMemoryCodeSender,
  loadRegistryConfig,
  type RegistryApp,
  startRegistry,
} from '@tandem/device-registry';
import { applyMigrations, readMigrations } from '@tandem/device-registry/migrate';
import { type GatewayApp, loadGatewayConfig, startGateway } from '@tandem/gateway';
import { MemoryStore, TandemClient, type TandemOptions } from '@tandem/sdk';
import { createLogger, type Logger } from '@tandem/service-kit';
import {
  createTestDatabase,
  createTestNats,
  createTestRedis,
  type TestDatabase,
  type TestNats,
  type TestRedis,
} from '@tandem/testkit';

export interface Stack {
  db: TestDatabase;
  redis: TestRedis;
  nats: TestNats;
  codes: InMemoryCodeSender;
  registry: RegistryApp;
  delivery: DeliveryApp;
  gateway: GatewayApp;
  logs: string[];
  url(): string;
  close(): Promise<void>;
}

export async function startStack(
  options: { deliveryEnv?: Record<string, string>; registryEnv?: Record<string, string> } = {},
): Promise<Stack> {
  const migrations = await readMigrations();
  const schemaKey = `device-registry:${createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex')}`;
  const [db, redis, nats] = await Promise.all([
    createTestDatabase({ schemaKey, migrate: async (url) => void (await applyMigrations(url)) }),
    createTestRedis(),
    createTestNats(),
  ]);
  const logs: string[] = [];
  const capture = (service: string): Logger =>
    createLogger({
      service,
      level: 'info',
      destination: new Writable({
        write(chunk, _enc, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    });
  const common = {
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: nats.prefix,
    OPS_PORT: '0',
    OPS_HOST: '127.0.0.1',
  };
  const codes = new InMemoryCodeSender();
  const registry = await startRegistry(
    loadRegistryConfig({ ...common, DATABASE_URL: db.url, DATABASE_POOL_SIZE: '5', ...options.registryEnv }),
    { logger: capture('device-registry'), codeSender: codes },
  );
  const delivery = await startDelivery(
    loadDeliveryConfig({
      ...common,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      ...options.deliveryEnv,
    }),
    { logger: capture('delivery') },
  );
  const gateway = await startGateway(
    loadGatewayConfig({
      ...common,
      PORT: '0',
      HOST: '127.0.0.1',
      GATEWAY_REALM: 'web.test',
      SHUTDOWN_TIMEOUT_MS: '3000',
    }),
    { logger: capture('gateway') },
  );
  return {
    db,
    redis,
    nats,
    codes,
    registry,
    delivery,
    gateway,
    logs,
    url: () => gateway.url,
    async close() {
      await gateway.stop().catch(() => undefined);
      await Promise.allSettled([registry.stop(), delivery.stop()]);
      await nats.close();
      await redis.cleanup();
      await db.drop();
    },
  };
}

let handles = 0;
/** A unique, valid handle. */
export const handle = (name: string) => `${name}_${Date.now().toString(36)}${(handles++).toString(36)}`;

export function options(stack: Stack, extra: Partial<TandemOptions> = {}): TandemOptions {
  return { url: stack.url(), store: new MemoryStore(), reconnectDelayMs: { min: 20, max: 200 }, ...extra };
}

/** Registers a new account; its primary (an SDK "phone" in Node) is connected. */
export async function registerPhone(stack: Stack, name: string, extra: Partial<TandemOptions> = {}) {
  const h = handle(name);
  return TandemClient.register({
    ...options(stack, extra),
    handle: h,
    name: `${name}'s phone`,
    getCode: async () => stack.codes.sent.get(h)!,
  });
}

export function collect<T>(subscribe: (fn: (e: T) => void) => unknown): T[] {
  const out: T[] = [];
  subscribe((e) => void out.push(e));
  return out;
}

export async function waitUntil(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
