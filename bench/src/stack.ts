/**
 * What the benchmark runs against, started by itself and removed afterwards: its own Postgres
 * database (registry migrations applied, devices seeded), Redis key prefixes and NATS subject
 * prefix; the three Tandem services as separate processes (built with turbo when dist is
 * missing); the raw floor's relay as another process.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMigrations } from '@tandem/device-registry/migrate';
import { testEnv, uniqueToken } from '@tandem/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Cred } from './clients.js';
import { freePort, type Service, startNode, waitHttpOk, waitLine } from './proc.js';
import { deletePrefix } from './queue.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const logDir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));

/** CPU placement: the server under test (gateway or floor relay) alone on CPU 0. */
export const SERVER_CPU = '0';
/** The load generator (this process) on CPU 1; registry, delivery, Redis, NATS, Postgres float. */
export const LOADGEN_CPU = '1';

const SERVICES = ['gateway', 'delivery', 'device-registry'] as const;

export function ensureBuilt(): void {
  const missing = SERVICES.filter((s) => !existsSync(join(ROOT, 'apps', s, 'dist', 'main.js')));
  if (missing.length === 0) return;
  console.log(`building ${missing.join(', ')} (turbo)…`);
  execFileSync(
    'npx',
    ['turbo', 'run', 'build', ...SERVICES.map((s) => `--filter=@tandem/${s}`), '--output-logs=errors-only'],
    { cwd: ROOT, stdio: 'inherit' },
  );
}

// ---- identities and seeding ----------------------------------------------------------------

export interface Seeded extends Cred {
  publicKey: Buffer;
}

export function newDevice(accountId: string, deviceId: number): Seeded {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return {
    accountId,
    deviceId,
    registrationId: 1 + Math.floor(Math.random() * 16000),
    key: privateKey,
    publicKey: der.subarray(der.length - 32),
  };
}

/** `n` accounts of `perAccount` devices each (device 1 is the primary). */
export function newAccounts(n: number, perAccount: number): Seeded[][] {
  return Array.from({ length: n }, () => {
    const accountId = randomUUID();
    return Array.from({ length: perAccount }, (_, i) => newDevice(accountId, i + 1));
  });
}

function dbUrl(name: string): string {
  const u = new URL(testEnv.databaseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: testEnv.databaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function seed(url: string, accounts: readonly Seeded[][]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (let i = 0; i < accounts.length; i += 5000) {
      const chunk = accounts.slice(i, i + 5000);
      await c.query(
        'INSERT INTO accounts (id, handle, next_device_id) SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[])',
        [
          chunk.map((a) => a[0]!.accountId),
          chunk.map((a) => `b${a[0]!.accountId.replaceAll('-', '').slice(0, 20)}`),
          chunk.map((a) => a.length + 1),
        ],
      );
      const devs = chunk.flat();
      await c.query(
        `INSERT INTO devices (account_id, device_id, is_primary, identity_key, registration_id, name, platform, linked_at)
         SELECT a, d, d = 1, k, r, 'bench', 'CLI', now() FROM unnest($1::uuid[], $2::int[], $3::bytea[], $4::int[]) AS t(a, d, k, r)`,
        [
          devs.map((d) => d.accountId),
          devs.map((d) => d.deviceId),
          devs.map((d) => d.publicKey),
          devs.map((d) => d.registrationId),
        ],
      );
    }
  } finally {
    await c.end();
  }
}

// ---- targets -------------------------------------------------------------------------------

export interface Target {
  kind: 'tandem' | 'floor';
  url: string;
  /** The server process the load talks to (gateway or floor relay): RSS is read from it. */
  serverPid: number;
  /** Redis key prefix of the device queues (to fill an offline device's queue directly). */
  queuePrefix: string;
  services: Service[];
  stop(): Promise<void>;
}

const redisUrl = testEnv.redisUrl;
const natsUrl = testEnv.natsUrl;

/** "A=1,B=2" → { A: '1', B: '2' }. */
const envList = (v: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (v ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=', 2) as [string, string]),
  );

export async function startTandem(accounts: readonly Seeded[][]): Promise<Target> {
  const token = uniqueToken();
  const dbName = `tandem_bench_${token}`;
  const natsPrefix = `bench_${token}`;
  const redisPrefix = `bench:${token}:`;
  await admin((a) => a.query(`CREATE DATABASE "${dbName}"`));
  const services: Service[] = [];
  const cleanup = async () => {
    for (const s of [...services].reverse()) await s.stop();
    await admin((a) => a.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
    const r = new Redis(redisUrl, { lazyConnect: true });
    await r.connect();
    await deletePrefix(r, redisPrefix);
    r.disconnect();
  };
  try {
    const url = dbUrl(dbName);
    await applyMigrations(url);
    const t0 = performance.now();
    await seed(url, accounts);
    console.log(
      `  seeded ${accounts.length} accounts / ${accounts.reduce((n, a) => n + a.length, 0)} devices in ${Math.round(performance.now() - t0)} ms`,
    );
    const common = {
      NATS_URL: natsUrl,
      NATS_SUBJECT_PREFIX: natsPrefix,
      OPS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    const start = async (name: (typeof SERVICES)[number], env: Record<string, string>, cpus?: string) => {
      const ops = await freePort();
      const profile = process.env.BENCH_CPU_PROF?.split(',').includes(name)
        ? ['--cpu-prof', `--cpu-prof-dir=${join(logDir, 'prof')}`]
        : [];
      const svc = startNode(
        name,
        [...profile, join(ROOT, 'apps', name, 'dist', 'main.js')],
        { ...common, ...env, OPS_PORT: String(ops) },
        join(logDir, `${name}.log`),
        cpus,
      );
      services.push(svc);
      await waitHttpOk(svc, `http://127.0.0.1:${ops}/readyz`);
      return svc;
    };
    await start('device-registry', { DATABASE_URL: url, DATABASE_POOL_SIZE: '10' });
    await start('delivery', {
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redisPrefix,
      QUEUE_MAX_COPIES: '1000000',
      QUEUE_MAX_BYTES: String(1 << 30),
    });
    const port = await freePort();
    const gateway = await start(
      'gateway',
      {
        HOST: '127.0.0.1',
        PORT: String(port),
        GATEWAY_REALM: 'bench.local',
        // One process simulates thousands of devices from a few loopback addresses: the
        // per-IP and per-device abuse limits are raised so they do not shape the load.
        CONNECT_RATE_PER_SEC: '1000000',
        CONNECT_RATE_BURST: '1000000',
        PREAUTH_RATE_PER_SEC: '1000000',
        PREAUTH_RATE_BURST: '1000000',
        FRAME_RATE_PER_SEC: '100000',
        FRAME_RATE_BURST: '100000',
        SEND_RATE_PER_SEC: '100000',
        SEND_RATE_BURST: '100000',
        AUTH_TIMEOUT_MS: '30000',
        BUS_TIMEOUT_MS: '10000',
        // Experiments: BENCH_GATEWAY_ENV="DRAIN_PAGE_SIZE=256,LOG_LEVEL=info".
        ...envList(process.env.BENCH_GATEWAY_ENV),
      },
      SERVER_CPU,
    );
    return {
      kind: 'tandem',
      url: `ws://127.0.0.1:${port}/v1/ws`,
      serverPid: gateway.pid,
      queuePrefix: redisPrefix,
      services,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export async function startFloor(): Promise<Target> {
  const redisPrefix = `benchfloor:${uniqueToken()}:`;
  const port = await freePort();
  const svc = startNode(
    'floor',
    [...process.execArgv, join(ROOT, 'bench', 'src', 'floor-server.ts')],
    { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix, FLOOR_PORT: String(port) },
    join(logDir, 'floor.log'),
    SERVER_CPU,
  );
  const cleanup = async () => {
    await svc.stop();
    const r = new Redis(redisUrl, { lazyConnect: true });
    await r.connect();
    await deletePrefix(r, redisPrefix);
    r.disconnect();
  };
  try {
    await waitLine(svc, /ready (\d+)/);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    kind: 'floor',
    url: `ws://127.0.0.1:${port}`,
    serverPid: svc.pid,
    queuePrefix: redisPrefix,
    services: [svc],
    stop: cleanup,
  };
}
