#!/usr/bin/env node
// Image smoke test without a Docker engine: `npm run smoke:images -w infra`.
//
// Follows the root Dockerfile stage by stage on the local file system, in a temporary folder:
//   pruner     runs the Dockerfile's `turbo prune … --docker` on the repository;
//   deps       copies what the stage COPYs; `npm ci` is the one step substituted: the
//              repository's installed node_modules is copied instead (no network needed);
//   build      copies what the stage COPYs, drops what .dockerignore keeps out of the context
//              (dist, src/gen, src/generated, …) and runs the stage's RUN lines (turbo build:
//              buf generate, prisma generate, tsc) as written;
//   prod-deps-<service>
//              `npm ci --omit=dev --workspace=<w>` substituted by copying only the packages the
//              workspace needs at run time (its dependencies, transitively, resolved as Node
//              resolves them: no devDependencies);
//   <target>   assembles the runtime tree from the stage's COPY --from lines and WORKDIR, then
//              starts the stage's CMD there with the environment compose.yaml gives the
//              service (hosts pointed at the local Postgres/Redis/NATS, a fresh database,
//              unique key and subject prefixes, free ports), and checks /healthz, /readyz,
//              /metrics and a clean exit on SIGTERM; the gateway also has a WebSocket client
//              connected at the moment of SIGTERM and must close it with 1012.
//   migrate    runs the migrate target's CMD twice on the fresh database (applies, then no-op).
//
// What it proves: the Dockerfile's COPY lists give each service everything it loads at run
// time (workspace packages, Lua scripts, migrations, Prisma's WebAssembly) and nothing from a
// dev install, and each CMD starts and stops cleanly with Compose's variables. What it does not:
// the base image, the non-root user, the real `npm ci` (see docs/operations.md).
//
// Options: --keep (leave the temporary folder), --only=<target,…>.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const say = (line) => process.stdout.write(`${line}\n`);
const fail = (line) => {
  process.stderr.write(`image-smoke: ${line}\n`);
  process.exitCode = 1;
};

// ---------------------------------------------------------------------------------------------
// The Dockerfile, as stages of instructions (continuations joined, comments dropped).

function readDockerfile() {
  const stages = [];
  const globalArgs = {};
  const text = readFileSync(join(repo, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, keyword, rest] = /^(\w+)\s*(.*)$/.exec(line) ?? [];
    if (!keyword) continue;
    if (keyword.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ name, from, instructions: [] });
    } else if (stages.length === 0 && keyword.toUpperCase() === 'ARG') {
      const [k, v] = rest.split('=');
      globalArgs[k] = v ?? '';
    } else if (stages.length > 0) {
      stages.at(-1).instructions.push({ keyword: keyword.toUpperCase(), args: rest });
    }
  }
  return { stages, globalArgs };
}

const dockerfile = readDockerfile();
const stageNamed = (name) => {
  const s = dockerfile.stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
};
/** Instructions of a kind, inherited through FROM <stage>. */
const inherited = (name, keyword) => {
  const out = [];
  for (let s = stageNamed(name); s; s = dockerfile.stages.find((x) => x.name === s.from)) {
    out.unshift(...s.instructions.filter((i) => i.keyword === keyword));
  }
  return out;
};
const substitute = (text, stageName) => {
  const vars = { ...dockerfile.globalArgs };
  for (const i of inherited(stageName, 'ARG')) {
    const [k, v] = i.args.split('=');
    if (v !== undefined) vars[k] = v;
  }
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a, b) => vars[a ?? b] ?? '');
};
const copies = (name) =>
  stageNamed(name)
    .instructions.filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, dest: paths.pop(), srcs: paths };
    });

// ---------------------------------------------------------------------------------------------
// Stages on the file system. Each stage folder stands for the image's file system at WORKDIR.

const work = mkdtempSync(join(tmpdir(), 'tandem-image-smoke-'));
const stageDir = (name) => join(work, name);
const copy = (from, to) => {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
};
/** What .dockerignore keeps out of the build context (and so out of the build stage). */
function removeIgnored(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === 'node_modules' || !statSync(path).isDirectory()) continue;
    const generated = (entry === 'gen' || entry === 'generated') && dir.endsWith(`${sep}src`);
    if (generated || ['dist', '.turbo', 'coverage', 'test-results'].includes(entry))
      rmSync(path, { recursive: true });
    else removeIgnored(path);
  }
}

/** Where /pruned and /repo of the pruner stage are here. */
const pruned = join(work, 'pruned');
function fromPruner(src) {
  if (src.startsWith('/pruned')) return join(pruned, src.slice('/pruned'.length));
  if (src.startsWith('/repo')) return join(repo, src.slice('/repo'.length));
  throw new Error(`unexpected pruner path ${src}`);
}

function runPruner() {
  const run = stageNamed('pruner').instructions.find((i) => i.keyword === 'RUN');
  const argv = substitute(run.args, 'pruner')
    .replace(/^npx\s+--yes\s+"?turbo@[^\s"]+"?/, '')
    .trim()
    .split(/\s+/);
  const outAt = argv.indexOf('--out-dir');
  argv[outAt + 1] = pruned;
  execFileSync(join(repo, 'node_modules/.bin/turbo'), argv, { cwd: repo, stdio: 'pipe' });
  say(`pruner   turbo ${argv.join(' ')}`);
}

/** Copies a stage's `COPY --from=pruner` lines into dir. */
function copyFromPruner(name, dir) {
  for (const c of copies(name)) {
    if (c.from !== 'pruner') throw new Error(`${name}: unexpected COPY --from=${c.from}`);
    for (const src of c.srcs) copy(fromPruner(src), join(dir, c.dest));
  }
}

function runBuild() {
  const dir = stageDir('build');
  copyFromPruner('deps', dir);
  // deps' `npm ci`: the repository's installed node_modules instead.
  cpSync(join(repo, 'node_modules'), join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  copyFromPruner('build', dir);
  removeIgnored(dir);
  for (const run of stageNamed('build').instructions.filter((i) => i.keyword === 'RUN')) {
    const command = substitute(run.args, 'build');
    const r = spawnSync('sh', ['-c', command], {
      cwd: dir,
      env: {
        ...process.env,
        CI: 'true',
        TURBO_TELEMETRY_DISABLED: '1',
        PATH: `${dir}/node_modules/.bin:${process.env.PATH}`,
      },
      encoding: 'utf8',
    });
    say(`build    ${command} -> exit ${r.status}`);
    if (r.status !== 0) {
      process.stderr.write(`${r.stdout}\n${r.stderr}`.split('\n').slice(-40).join('\n'));
      fail('the build stage failed (see above); continuing with what it emitted');
    }
  }
}

/** The node_modules folders a workspace needs at run time, relative to root. */
function runtimeClosure(root, workspaceDir) {
  const seen = new Set();
  const find = (from, name) => {
    for (let dir = from; dir.startsWith(root); dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      if (dirname(dir) === dir) break;
    }
    return undefined;
  };
  const visit = (pkgDir) => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter(
      (n) => !pkg.peerDependenciesMeta?.[n]?.optional,
    );
    const names = [
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.optionalDependencies ?? {}),
      ...peers,
    ];
    for (const name of names) {
      const found = find(pkgDir, name);
      if (!found) {
        if (!pkg.optionalDependencies?.[name]) throw new Error(`${pkgDir}: cannot resolve ${name}`);
        continue;
      }
      const rel = relative(root, found);
      if (seen.has(rel)) continue;
      seen.add(rel);
      visit(realpathSync(found));
    }
  };
  visit(join(root, workspaceDir));
  return [...seen].sort();
}

function runProdDeps(name) {
  const dir = stageDir(name);
  if (existsSync(dir)) return dir;
  copyFromPruner(name, dir);
  const run = stageNamed(name).instructions.find((i) => i.keyword === 'RUN');
  const workspace = /--workspace=(\S+)/.exec(run.args)?.[1];
  if (!/--omit=dev/.test(run.args) || !workspace)
    throw new Error(`${name}: expected npm ci --omit=dev --workspace=…`);
  const build = stageDir('build');
  const workspaceDir = relative(build, realpathSync(join(build, 'node_modules', workspace)));
  const closure = runtimeClosure(build, workspaceDir);
  for (const rel of closure) copy(join(build, rel), join(dir, rel));
  // The stage's other RUN lines run as written, after the substituted install.
  for (const other of stageNamed(name).instructions.filter((i) => i.keyword === 'RUN' && i !== run)) {
    execFileSync('sh', ['-c', substitute(other.args, name)], { cwd: dir, stdio: 'pipe' });
    say(`${name.padEnd(8)} RUN ${substitute(other.args, name)}`);
  }
  say(
    `${name.padEnd(8)} ${closure.length} runtime packages for ${workspace} (npm ci --omit=dev substituted)`,
  );
  return dir;
}

/** The runtime tree of a target; returns its WORKDIR and CMD. */
function assemble(target) {
  const root = stageDir(`image-${target}`);
  // migrate is FROM device-registry: assemble the parents' COPY lines too (all relative to /app).
  const chain = [];
  for (let s = stageNamed(target); s?.name; s = dockerfile.stages.find((x) => x.name === s.from))
    chain.unshift(s.name);
  for (const name of chain) {
    for (const c of copies(name)) {
      const source = c.from === 'build' ? stageDir('build') : runProdDeps(c.from);
      for (const src of c.srcs) copy(join(source, src.replace(/^\/repo\/?/, '')), join(root, 'app', c.dest));
    }
  }
  const workdir = inherited(target, 'WORKDIR').at(-1).args;
  const cmd = JSON.parse(inherited(target, 'CMD').at(-1).args);
  return { cwd: join(root, workdir.replace(/^\/app/, 'app')), cmd, root };
}

// ---------------------------------------------------------------------------------------------
// Running a target with Compose's environment against the local services.

const unique = `smoke${process.pid}`;
const database = `tandem_${unique}`;
const local = {
  postgres: `postgresql://postgres@127.0.0.1:5432/${database}`,
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  nats: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
};

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const compose = parse(readFileSync(join(repo, 'infra/compose.yaml'), 'utf8'), { merge: true });
const interpolate = (value) =>
  String(value).replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _n, def) => def ?? '');

async function environmentFor(service) {
  const env = {};
  for (const [k, v] of Object.entries(compose.services[service].environment ?? {})) env[k] = interpolate(v);
  if (env.DATABASE_URL) env.DATABASE_URL = local.postgres;
  if (env.REDIS_URL) env.REDIS_URL = local.redis;
  if (env.NATS_URL) env.NATS_URL = local.nats;
  if (env.NATS_SUBJECT_PREFIX) env.NATS_SUBJECT_PREFIX = unique;
  if (env.REDIS_KEY_PREFIX) env.REDIS_KEY_PREFIX = `${unique}:`;
  if (env.OPS_PORT) env.OPS_PORT = String(await freePort());
  if (env.PORT) env.PORT = String(await freePort());
  if (env.HOST) env.HOST = '127.0.0.1';
  if (env.OPS_HOST) env.OPS_HOST = '127.0.0.1';
  return env;
}

const started = new Set();
function start(image, env) {
  const child = spawn(image.cmd[0], image.cmd.slice(1), {
    cwd: image.cwd,
    env: { PATH: process.env.PATH, HOME: tmpdir(), NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  started.add(child);
  void exited.then(() => started.delete(child));
  return { child, exited, output: () => output };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function status(url) {
  try {
    const res = await fetch(url);
    return { code: res.status, body: await res.text() };
  } catch {
    return { code: 0, body: '' };
  }
}

async function smokeService(target, service) {
  const image = assemble(target);
  const env = await environmentFor(service);
  const proc = start(image, env);
  const ops = `http://127.0.0.1:${env.OPS_PORT}`;
  let ready = { code: 0 };
  for (let i = 0; i < 100 && ready.code !== 200; i++) {
    if (proc.child.exitCode !== null) break;
    ready = await status(`${ops}/readyz`);
    if (ready.code !== 200) await sleep(200);
  }
  const health = await status(`${ops}/healthz`);
  const metrics = await status(`${ops}/metrics`);
  const metricLines = metrics.body.split('\n').filter((l) => /^[a-z]/.test(l)).length;
  let closeCode;
  if (env.PORT && ready.code === 200)
    closeCode = await closeOnSigterm(`ws://127.0.0.1:${env.PORT}/v1/ws`, proc);
  else proc.child.kill('SIGTERM');
  const t0 = Date.now();
  const exit = await Promise.race([
    proc.exited,
    sleep(Number(env.SHUTDOWN_TIMEOUT_MS) + 5000).then(() => null),
  ]);
  const ms = Date.now() - t0;
  const ok =
    health.code === 200 &&
    ready.code === 200 &&
    metricLines > 0 &&
    exit?.code === 0 &&
    (closeCode === undefined || closeCode === 1012);
  say(
    `${target.padEnd(8)} cwd ${relative(image.root, image.cwd)}, ${image.cmd.join(' ')}: /healthz ${health.code}, /readyz ${ready.code}` +
      `, /metrics ${metricLines} samples${closeCode === undefined ? '' : `, client closed with ${closeCode}`}` +
      `, SIGTERM -> exit ${exit ? (exit.code ?? exit.signal) : 'timeout'}${exit ? ` after ${ms} ms` : ''} ${ok ? 'OK' : 'FAILED'}`,
  );
  if (!ok) fail(`${target}:\n${proc.output().split('\n').slice(-30).join('\n')}`);
}

/** Connects a WebSocket client, sends SIGTERM to the gateway, returns the close code. */
async function closeOnSigterm(url, proc) {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url);
  const opened = await new Promise((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
  if (!opened) {
    proc.child.kill('SIGTERM');
    return 0;
  }
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  proc.child.kill('SIGTERM');
  return Promise.race([closed, sleep(15_000).then(() => -1)]);
}

async function smokeMigrate() {
  const image = assemble('migrate');
  for (const round of ['first run', 'second run']) {
    const proc = start(image, { DATABASE_URL: local.postgres });
    const exit = await proc.exited;
    const last = proc.output().trim().split('\n').at(-1);
    say(`migrate  ${round}: ${image.cmd.join(' ')} -> exit ${exit.code}: ${last}`);
    if (exit.code !== 0) fail(`migrate ${round}:\n${proc.output()}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function withDatabase(fn) {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  try {
    return await fn();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
}

async function cleanRedis() {
  const { Redis } = await import('ioredis');
  const redis = new Redis(local.redis);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${unique}:*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

async function main() {
  say(`work folder ${work}`);
  runPruner();
  runBuild();
  const targets = only ?? ['migrate', 'device-registry', 'delivery', 'gateway'];
  await withDatabase(async () => {
    if (targets.includes('migrate') || targets.includes('device-registry')) await smokeMigrate();
    if (targets.includes('device-registry')) await smokeService('device-registry', 'device-registry');
    if (targets.includes('delivery')) await smokeService('delivery', 'delivery');
    if (targets.includes('gateway')) await smokeService('gateway', 'gateway-1');
  });
  await cleanRedis();
}

try {
  await main();
} catch (err) {
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
} finally {
  for (const child of started) child.kill('SIGKILL');
  if (keep) say(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
