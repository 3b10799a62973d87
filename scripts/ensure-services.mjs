#!/usr/bin/env node
// Makes sure Postgres, Redis and NATS (with JetStream) answer at DATABASE_URL, REDIS_URL and
// NATS_URL (local defaults). For each one that does not, it tries in order:
//   1. a local instance started from the installed binaries, data under .data/ (git-ignored);
//   2. the infrastructure services of infra/compose.yaml, when a Docker engine answers;
// and otherwise stops with one line saying what to install.
// Used by `npm start`, `npm test` and `.ci/run`. Prints one line per service.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, '.data');
const urls = {
  postgres: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  nats: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',')[0].trim(),
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pgAnswers() {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: urls.postgres, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisAnswers() {
  const { Redis } = await import('ioredis');
  const client = new Redis(urls.redis, {
    lazyConnect: true,
    connectTimeout: 1500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function natsAnswers() {
  const { connect } = await import('@nats-io/transport-node');
  let nc;
  try {
    nc = await connect({ servers: urls.nats, timeout: 1500, reconnect: false });
    const reply = await nc.request('$JS.API.INFO', '', { timeout: 1500 });
    const info = JSON.parse(new TextDecoder().decode(reply.data));
    return info.error ? 'no-jetstream' : true;
  } catch {
    return nc ? 'no-jetstream' : false;
  } finally {
    await nc?.close().catch(() => {});
  }
}

function which(bin, extraDirs = []) {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

function pgBinDir() {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.map((v) => join(base, v, 'bin'));
}

function isLocalHost(url) {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

const portOf = (url, fallback) => Number(new URL(url).port || fallback);

async function startPostgres() {
  const initdb = which('initdb', pgBinDir());
  const pgCtl = which('pg_ctl', pgBinDir());
  if (!initdb || !pgCtl) return false;
  const dir = join(dataDir, 'postgres');
  const asPostgres = process.getuid?.() === 0; // initdb refuses to run as root
  const run = (cmd, args) => {
    const full = asPostgres ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    return spawnSync(full[0], full[1], { stdio: 'ignore' }).status === 0;
  };
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true });
    if (asPostgres) spawnSync('chown', ['-R', 'postgres', dataDir, dir]);
    if (!run(initdb, ['-D', dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])) return false;
  }
  const port = portOf(urls.postgres, 5432);
  return run(pgCtl, [
    '-D',
    dir,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    'start',
  ]);
}

async function startRedis() {
  const bin = which('redis-server');
  if (!bin) return false;
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = portOf(urls.redis, 6379);
  const r = spawnSync(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--daemonize',
      'yes',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--logfile',
      join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  return r.status === 0;
}

async function startNats() {
  const bin = which('nats-server', ['/usr/sbin']);
  if (!bin) return false;
  const dir = join(dataDir, 'nats');
  mkdirSync(dir, { recursive: true });
  const port = portOf(urls.nats, 4222);
  const child = spawn(
    bin,
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, '-l', join(dir, 'nats.log')],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  return true;
}

function dockerAnswers() {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await check()) === true) return true;
    await sleep(200);
  }
  return false;
}

const services = [
  {
    name: 'postgres',
    check: pgAnswers,
    start: startPostgres,
    compose: 'postgres',
    install: 'PostgreSQL 15+ (apt-get install postgresql)',
  },
  {
    name: 'redis',
    check: redisAnswers,
    start: startRedis,
    compose: 'redis',
    install: 'Redis 7+ (apt-get install redis-server)',
  },
  {
    name: 'nats',
    check: natsAnswers,
    start: startNats,
    compose: 'nats',
    install: 'NATS 2.9+ with JetStream (apt-get install nats-server)',
  },
];

let failed = false;
for (const s of services) {
  const url = { postgres: urls.postgres, redis: urls.redis, nats: urls.nats }[s.name];
  const state = await s.check();
  if (state === true) {
    console.log(`${s.name}: answers at ${url}`);
    continue;
  }
  if (state === 'no-jetstream') {
    console.error(`${s.name}: answers at ${url} but JetStream is not enabled; restart nats-server with -js`);
    failed = true;
    continue;
  }
  if (isLocalHost(url) && (await s.start()) && (await waitUntil(s.check, 15_000))) {
    console.log(
      `${s.name}: started a local instance from the installed binaries (data in .data/${s.name}) at ${url}`,
    );
    continue;
  }
  if (dockerAnswers()) {
    // Development fallback: the ports are published on loopback only, so trust auth matches the
    // password-less local URLs; deployments set POSTGRES_PASSWORD and keep scram-sha-256.
    const env = {
      ...process.env,
      POSTGRES_HOST_AUTH_METHOD: process.env.POSTGRES_HOST_AUTH_METHOD ?? 'trust',
    };
    const r = spawnSync(
      'docker',
      ['compose', '-f', join(root, 'infra/compose.yaml'), 'up', '-d', '--wait', s.compose],
      { stdio: 'inherit', env },
    );
    if (r.status === 0 && (await waitUntil(s.check, 60_000))) {
      console.log(`${s.name}: started from infra/compose.yaml at ${url}`);
      continue;
    }
  }
  console.error(
    `${s.name}: nothing answers at ${url} and it could not be started: install ${s.install} or set ${s.name === 'postgres' ? 'DATABASE_URL' : s.name === 'redis' ? 'REDIS_URL' : 'NATS_URL'}`,
  );
  failed = true;
}
process.exit(failed ? 1 : 0);
