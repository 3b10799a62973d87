#!/usr/bin/env node
// `npm start`: makes sure Postgres, Redis and NATS answer, builds what changed (turbo), creates the
// database if needed, starts device-registry (which applies migrations), delivery and gateway,
// prints where the gateway listens, and on Ctrl-C (SIGINT) or SIGTERM stops all three gracefully.
// Variables the services read can be set in the environment; defaults suit one local machine.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run(process.execPath, [join(root, 'scripts/ensure-services.mjs')]);
console.log('building (turbo caches unchanged packages) ...');
run(
  'npx',
  [
    'turbo',
    'run',
    'build',
    '--output-logs=errors-only',
    '--filter=@tandem/gateway',
    '--filter=@tandem/device-registry',
    '--filter=@tandem/delivery',
    '--filter=@tandem/sdk',
    '--filter=@tandem/web',
  ],
  {
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  },
);

const adminUrl = process.env.TANDEM_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/tandem';
{
  const { default: pg } = await import('pg');
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) {
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    console.log(`created database ${name}`);
  }
  await admin.end();
}

const shared = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
};
const services = [
  {
    name: 'device-registry',
    dir: 'apps/device-registry',
    env: { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'true' },
  },
  {
    name: 'delivery',
    dir: 'apps/delivery',
    env: { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
  { name: 'gateway', dir: 'apps/gateway', env: {} },
  {
    // The web companion's static files, and a relay of /v1/ws to the gateway (same origin).
    name: 'web',
    dir: 'apps/web',
    entry: 'serve.mjs',
    env: {
      PORT: process.env.WEB_PORT ?? '8090',
      HOST: '127.0.0.1',
      GATEWAY_URL: process.env.WEB_GATEWAY_URL ?? 'ws://127.0.0.1:8080/v1/ws',
    },
  },
];
const ready = { gateway: undefined, web: undefined };
let bannerShown = false;
const banner = () => {
  if (!ready.gateway || !ready.web || bannerShown) return;
  bannerShown = true;
  console.log(
    `\nTandem is running. Devices connect to ${ready.gateway}\nWeb companion: ${ready.web}\nPress Ctrl-C to stop.\n`,
  );
};

const children = [];
let stopping = false;
const colors = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m'];
for (const [i, s] of services.entries()) {
  const child = spawn(process.execPath, [join(root, s.dir, s.entry ?? 'dist/main.js')], {
    cwd: join(root, s.dir),
    env: { ...process.env, ...shared, ...s.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a terminal's Ctrl-C reaches only this script, which stops the services in order.
    detached: true,
  });
  const tag = process.stdout.isTTY ? `${colors[i]}${s.name.padEnd(16)}\x1b[0m` : s.name.padEnd(16);
  const relay = (stream, out) => {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (s.name === 'web' && line.startsWith('Web companion:')) {
          // Not relayed: the banner below says it once, next to the gateway's URL.
          ready.web = line.slice('Web companion:'.length).trim();
          banner();
          continue;
        }
        out.write(`${tag}| ${line}\n`);
        if (s.name === 'gateway' && line.includes('"gateway listening"')) {
          ready.gateway = JSON.parse(line).url;
          banner();
        }
      }
    });
  };
  relay(child.stdout, process.stdout);
  relay(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    children.splice(children.indexOf(child), 1);
    if (!stopping) {
      console.error(`${s.name} exited (${signal ?? code}); stopping the others`);
      stop(1);
    } else if (children.length === 0) {
      console.log('all services stopped');
      process.exit(process.exitCode ?? 0);
    }
  });
  children.push(child);
  // The registry applies migrations; give it a head start so the others don't race it on first run.
  if (i === 0) await waitForLine(child, '"device-registry ready"', 30_000);
}

function waitForLine(child, needle, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.stdout.on('data', (d) => {
      if (String(d).includes(needle)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => resolve());
  });
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  // Gateway first (tells clients to reconnect, drains sends), then the services behind it.
  for (const child of [...children].reverse()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, 8000).unref();
}
process.on('SIGINT', () => stop(0));
// If this launcher dies anyway (its terminal or pipe went away), it takes the services with it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
});
// A closed stdout (a pager or `tee` that quit) must not kill the launcher mid-shutdown.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
process.on('SIGTERM', () => stop(0));
