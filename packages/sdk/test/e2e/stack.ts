// The whole of Tandem in this process for one test file: registry, delivery and gateway(s) on the
// real Postgres (own database), Redis (own key prefix) and NATS (own subject prefix), with every
// service's log lines captured so tests can scan them. Test-only; other packages' tests (the web
// companion's) import it as `@tandem/sdk/testing`.
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
import { createLogger, type Logger } from '@tandem/service-kit';
import {
  createTestDatabase,
  createTestNats,
  createTestRedis,
  type TestDatabase,
  type TestNats,
  type TestRedis,
} from '@tandem/testkit';
import { MemoryStore, TandemClient, type TandemOptions } from '../../src/index.js';

export interface Stack {
  db: TestDatabase;
  redis: TestRedis;
  nats: TestNats;
  codes: InMemoryCodeSender;
  registry: RegistryApp;
  /** The first delivery instance. */
  delivery: DeliveryApp;
  /**
   * Every delivery instance (`deliveries` of them): same Redis and key prefix, same NATS subject
   * prefix, so they share the request queue group and the queues.
   */
  deliveries: DeliveryApp[];
  gateways: GatewayApp[];
  /** The first gateway. */
  gateway: GatewayApp;
  /** Every log line every service wrote, as JSON text. */
  logs: string[];
  url(i?: number): string;
  /**
   * Starts one more gateway; `natsUrl` connects it elsewhere than the stack's NATS (e.g. a proxy to
   * it), `env` adds to (or overrides) its configuration, e.g. { BUS_TIMEOUT_MS: '1000' }.
   */
  startGateway(options?: { natsUrl?: string; env?: Record<string, string> }): Promise<GatewayApp>;
  /**
   * Stops delivery instance `i` (the first by default) abruptly-but-cleanly and starts a new one in
   * its place on the same Redis.
   */
  restartDelivery(i?: number): Promise<void>;
  /** Stops the registry (requests for it then time out on the bus) until `resumeRegistry`. */
  stopRegistry(): Promise<void>;
  /** Starts a new registry instance on the same database. */
  resumeRegistry(): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(
  options: {
    deliveryEnv?: Record<string, string>;
    registryEnv?: Record<string, string>;
    /** Configuration of every gateway this call starts (startGateway's `env` for one more). */
    gatewayEnv?: Record<string, string>;
    gateways?: number;
    /** Delivery instances sharing the Redis queues and the NATS queue group (1 by default). */
    deliveries?: number;
    /** Level of the captured service logs (debug by default, so scans see everything). */
    logLevel?: 'debug' | 'info';
    /** A NATS server of the test's own (one it may kill and restart) instead of the shared one. */
    natsUrl?: string;
    /**
     * A Redis server of the test's own (one it may kill and restart, see redis-harness.ts) instead
     * of the shared one; the key prefix is the test file's own either way.
     */
    redisUrl?: string;
  } = {},
): Promise<Stack> {
  const migrations = await readMigrations();
  const schemaKey = `device-registry:${createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex')}`;
  const [db, redis, nats] = await Promise.all([
    createTestDatabase({ schemaKey, migrate: async (url) => void (await applyMigrations(url)) }),
    createTestRedis(options.redisUrl === undefined ? {} : { url: options.redisUrl }),
    createTestNats(options.natsUrl === undefined ? {} : { url: options.natsUrl }),
  ]);
  const logs: string[] = [];
  const capture = (service: string): Logger =>
    createLogger({
      service,
      level: options.logLevel ?? 'debug',
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
  const newRegistry = () =>
    startRegistry(
      loadRegistryConfig({
        ...common,
        DATABASE_URL: db.url,
        DATABASE_POOL_SIZE: '5',
        ...options.registryEnv,
      }),
      {
        logger: capture('device-registry'),
        codeSender: codes,
      },
    );
  let registry: RegistryApp | undefined = await newRegistry();
  const deliveryConfig = () =>
    loadDeliveryConfig({
      ...common,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      ...options.deliveryEnv,
    });
  const deliveries: DeliveryApp[] = [];
  for (let i = 0; i < (options.deliveries ?? 1); i++) {
    deliveries.push(await startDelivery(deliveryConfig(), { logger: capture('delivery') }));
  }
  const gateways: GatewayApp[] = [];
  const startOne = async (gatewayOptions: { natsUrl?: string; env?: Record<string, string> } = {}) => {
    const g = await startGateway(
      loadGatewayConfig({
        ...common,
        ...(gatewayOptions.natsUrl === undefined ? {} : { NATS_URL: gatewayOptions.natsUrl }),
        PORT: '0',
        HOST: '127.0.0.1',
        GATEWAY_REALM: 'e2e.test',
        SHUTDOWN_TIMEOUT_MS: '3000',
        ...gatewayOptions.env,
      }),
      { logger: capture('gateway') },
    );
    gateways.push(g);
    return g;
  };
  for (let i = 0; i < (options.gateways ?? 1); i++) await startOne({ env: options.gatewayEnv });
  const stack: Stack = {
    db,
    redis,
    nats,
    codes,
    get registry() {
      if (!registry) throw new Error('the registry is stopped (stopRegistry)');
      return registry;
    },
    get delivery() {
      return deliveries[0]!;
    },
    deliveries,
    gateways,
    get gateway() {
      return gateways[0]!;
    },
    logs,
    url: (i = 0) => gateways[i]!.url,
    startGateway: startOne,
    async restartDelivery(i = 0) {
      const old = deliveries[i];
      if (!old) throw new RangeError(`no delivery instance ${i} (the stack runs ${deliveries.length})`);
      await old.stop();
      deliveries[i] = await startDelivery(deliveryConfig(), { logger: capture('delivery') });
    },
    async stopRegistry() {
      await registry?.stop();
      registry = undefined;
    },
    async resumeRegistry() {
      registry ??= await newRegistry();
    },
    async close() {
      await Promise.allSettled(gateways.map((g) => g.stop()));
      await Promise.allSettled([registry?.stop(), ...deliveries.map((d) => d.stop())]);
      await nats.close();
      await redis.cleanup();
      await db.drop();
    },
  };
  return stack;
}

let handles = 0;
/** A unique, valid handle. */
export const handle = (name: string) => `${name}_${Date.now().toString(36)}${(handles++).toString(36)}`;

export function options(stack: Stack, extra: Partial<TandemOptions> = {}): TandemOptions {
  return { url: stack.url(), store: new MemoryStore(), reconnectDelayMs: { min: 20, max: 200 }, ...extra };
}

/** Registers a new account; its primary is connected. */
export async function registerPhone(stack: Stack, name: string, extra: Partial<TandemOptions> = {}) {
  const h = handle(name);
  return TandemClient.register({
    ...options(stack, extra),
    handle: h,
    name: `${name}'s phone`,
    getCode: async () => stack.codes.sent.get(h)!,
  });
}

/** Links a new companion to `phone` by QR; the companion is connected. */
export async function linkCompanion(
  stack: Stack,
  phone: TandemClient,
  name: string,
  extra: Partial<TandemOptions> = {},
) {
  const session = await TandemClient.link({ ...options(stack, extra), name });
  await phone.approveLink(session.qr);
  return session.done;
}

/** Collects events of one kind. */
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
