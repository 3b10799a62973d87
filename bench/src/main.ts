/**
 * Tandem benchmarks (issue 10): idle connections, online chat, offline drain and reconnect storm,
 * each against Tandem (gateway + registry + delivery as separate processes over NATS) and against
 * a raw floor (plain `ws` relay on delivery's own Redis scripts) in the same invocation.
 *
 *   npm run bench              full run (capped in time; see docs/benchmarks.md)
 *   npm run bench -- --quick   small N, under two minutes
 *   options: --no-docs (do not append to docs/benchmarks.md)
 *
 * This process is the load generator. It re-executes itself once with a raised open-file limit
 * (prlimit), a larger heap and pinned to CPU 1 (taskset); the server under test is pinned to CPU 0.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { NOFILE, openFileLimit, sleep } from './proc.js';
import {
  checkResults,
  computeRatios,
  computeTargets,
  machine,
  markdown,
  type Results,
  type TargetResults,
  versions,
} from './report.js';
import {
  ensureBuilt,
  LOADGEN_CPU,
  logDir,
  newAccounts,
  ROOT,
  SERVER_CPU,
  type Seeded,
  startFloor,
  startTandem,
  type Target,
} from './stack.js';
import { chat, closeAll, drain, idle, idleBaseline, storm } from './workloads.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only='));
/** Workloads to run (all by default); `--only=chat,drain` for profiling one. */
const only = new Set(onlyArg ? onlyArg.slice(7).split(',') : ['idle', 'storm', 'chat', 'drain']);
const targetsArg = args.find((a) => a.startsWith('--targets='));
const targetKinds = new Set(targetsArg ? targetsArg.slice(10).split(',') : ['floor', 'tandem']);
const stepArg = args.find((a) => a.startsWith('--step-seconds='));
const rateArg = args.find((a) => a.startsWith('--chat-rate='));

if (!process.env.TANDEM_BENCH_CHILD) {
  const r = spawnSync(
    'prlimit',
    [
      `--nofile=${NOFILE}:${NOFILE}`,
      '--',
      'taskset',
      '-c',
      LOADGEN_CPU,
      process.execPath,
      '--max-old-space-size=12288',
      ...process.execArgv,
      process.argv[1]!,
      ...args,
    ],
    { stdio: 'inherit', env: { ...process.env, TANDEM_BENCH_CHILD: '1' } },
  );
  process.exit(r.status ?? 1);
}

const settings = quick
  ? {
      idleLevels: [2000],
      idleCapSeconds: 60,
      stormDevices: 2000,
      stormWindowSeconds: 5,
      chatUsers: 200,
      devicesPerUser: 5,
      chat: { startRate: 50, factor: 2, maxSteps: 3, stepSeconds: 3 },
      drainCopies: 20_000,
    }
  : {
      // 50k and 100k need more open files than this machine's hard limit allows (see notes).
      idleLevels: [10_000, 50_000, 100_000]
        .map((n) => Math.min(n, NOFILE - 1000))
        .filter((n, i, a) => a.indexOf(n) === i),
      idleCapSeconds: 240,
      stormDevices: 10_000,
      stormWindowSeconds: 10,
      chatUsers: 2000,
      devicesPerUser: 5,
      chat: { startRate: 50, factor: 1.6, maxSteps: 9, stepSeconds: 8 },
      drainCopies: 100_000,
    };

if (stepArg) settings.chat.stepSeconds = Number(stepArg.slice(15));
if (rateArg) settings.chat.startRate = Number(rateArg.slice(12));

const started = performance.now();
const notes: string[] = [];
const live: Target[] = [];
let stopping = false;
const stopAll = async () => {
  if (stopping) return;
  stopping = true;
  for (const t of live.splice(0)) await t.stop().catch((e: unknown) => console.error('cleanup:', e));
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

async function runAll(
  target: Target,
  singles: Seeded[],
  users: Seeded[][],
  drainPair: Seeded[],
): Promise<TargetResults> {
  const out: TargetResults = { idle: [], storm: undefined, chat: undefined, drain: undefined };
  const name = target.kind;
  // 1. idle, rising levels on one process
  await sleep(500);
  const base = idleBaseline(target);
  let from = 0;
  const deadline = Date.now() + settings.idleCapSeconds * 1000;
  if (only.has('idle')) console.log(`  ${name}: idle`);
  for (const level of only.has('idle') || only.has('storm') ? settings.idleLevels : []) {
    if (!only.has('idle') && from >= settings.stormDevices) break;
    const left = (deadline - Date.now()) / 1000;
    if (left <= 5) {
      notes.push(
        `${name} idle: stopped before ${level} connections — time cap ${settings.idleCapSeconds} s reached`,
      );
      break;
    }
    const r = await idle(target, base, singles.slice(from, level), left);
    from = level;
    out.idle.push(r);
    console.log(
      `    ${r.connected} connected (${r.errors} errors, ${r.connectsPerSec}/s): server ${(r.serverBytesPerConnection / 1024).toFixed(1)} KiB/conn, kernel TCP ${(r.kernelTcpBytesPerConnection / 1024).toFixed(1)} KiB/conn; CPU % ${JSON.stringify(r.cpuPercent)}`,
    );
    if (r.stoppedEarly) {
      console.log(`    stopped early: ${r.stoppedEarly}`);
      notes.push(`${name} idle: stopped at ${r.connected} of ${level} connections — ${r.stoppedEarly}`);
      break;
    }
  }
  // 4. reconnect storm: keep the first stormDevices connections, drop them all at once
  const keep = base.conns.slice(0, settings.stormDevices);
  await closeAll(base.conns.slice(settings.stormDevices));
  await sleep(1000);
  if (only.has('storm')) {
    console.log(`  ${name}: reconnect storm, ${keep.length} devices within ${settings.stormWindowSeconds} s`);
    out.storm = await storm(target, keep, settings.stormWindowSeconds);
    console.log(
      `    all back after ${out.storm.allBackSeconds} s, ${out.storm.errors} errors ${JSON.stringify(out.storm.errorKinds)}, ${out.storm.gaveUp} gave up, reconnect p99 ${out.storm.reconnectMs.p99} ms; CPU % ${JSON.stringify(out.storm.cpuPercent)}`,
    );
  } else await closeAll(keep);
  await sleep(1000);
  // 2. online chat
  if (only.has('chat')) {
    console.log(`  ${name}: chat ${users.length}×${settings.devicesPerUser}`);
    const c = await chat(target, users, settings.chat);
    out.chat = c.result;
    await c.close();
    await sleep(1000);
  }
  // 3. offline drain
  if (!only.has('drain')) return out;
  console.log(`  ${name}: offline drain of ${settings.drainCopies} copies`);
  out.drain = await drain(target, drainPair[0]!, drainPair[1]!, settings.drainCopies, {
    capSeconds: quick ? 30 : 120,
  });
  console.log(
    `    ${out.drain.delivered} delivered in ${out.drain.drainSeconds} s = ${out.drain.copiesPerSec} copies/s; server RSS peak ${(out.drain.serverRssPeakBytes / 1048576).toFixed(0)} MiB; CPU % ${JSON.stringify(out.drain.cpuPercent)}`,
  );
  return out;
}

async function main(): Promise<void> {
  const limit = openFileLimit();
  console.log(`Tandem bench (${quick ? 'quick' : 'full'}); open-file limit ${limit}; logs in ${logDir}`);
  ensureBuilt();
  const maxIdle = settings.idleLevels[settings.idleLevels.length - 1]!;
  if (!quick && maxIdle < 100_000) {
    notes.push(
      `idle stopped at ${maxIdle} connections: the hard open-file limit here is ${NOFILE} per process (not raisable, even as root) and every connection holds one descriptor in the server and one in the load generator; 50k/100k would need a higher hard limit (or several gateway and load-generator processes)`,
    );
  }
  const t0 = performance.now();
  const singles = newAccounts(maxIdle, 1).map((a) => a[0]!);
  const users = newAccounts(settings.chatUsers, settings.devicesPerUser);
  const drainPair = newAccounts(2, 1).map((a) => a[0]!);
  console.log(
    `generated ${singles.length + users.length * settings.devicesPerUser + 2} Ed25519 identities in ${Math.round(performance.now() - t0)} ms`,
  );
  const [m, v] = [machine(), await versions()];

  const empty: TargetResults = { idle: [], storm: undefined, chat: undefined, drain: undefined };
  let floorResults = empty;
  if (targetKinds.has('floor')) {
    console.log('floor (ws relay + delivery Redis scripts):');
    const floor = await startFloor();
    live.push(floor);
    try {
      floorResults = await runAll(floor, singles, users, drainPair);
    } finally {
      live.splice(live.indexOf(floor), 1);
      await floor.stop();
    }
    await sleep(2000);
  }

  let tandemResults = empty;
  if (targetKinds.has('tandem')) {
    console.log('tandem (gateway + device-registry + delivery, NATS):');
    const tandem = await startTandem([...singles.map((s) => [s]), ...users, ...drainPair.map((d) => [d])]);
    live.push(tandem);
    try {
      tandemResults = await runAll(tandem, singles, users, drainPair);
    } finally {
      live.splice(live.indexOf(tandem), 1);
      await tandem.stop();
    }
  }
  const partialRun = only.size < 4 || targetKinds.size < 2;
  m.loadAverage.end = loadavg()[0]!;

  const partial = { floor: floorResults, tandem: tandemResults };
  const ratios = computeRatios(partial);
  const results: Results = {
    at: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: m,
    versions: v,
    placement: `server under test (gateway / floor relay) pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOADGEN_CPU} (taskset); device-registry, delivery, Redis, NATS and Postgres unpinned, sharing both cores.`,
    settings: { ...settings, payloadBytes: 200, openFileLimit: limit },
    notes,
    ...partial,
    ratios,
    targets: computeTargets({ ...partial, ratios }),
    totalSeconds: Math.round((performance.now() - started) / 1000),
  };
  if (partialRun) {
    console.log(JSON.stringify(partial, null, 2));
    console.log('partial run (--only / --targets): nothing written');
    return;
  }
  checkResults(JSON.parse(JSON.stringify(results)));
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const file = join(dir, `${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(dir, 'latest.json'), json);
  if (!args.includes('--no-docs')) {
    const doc = join(ROOT, 'docs', 'benchmarks.md');
    if (!existsSync(doc))
      writeFileSync(doc, '# Benchmarks\n\nRuns of `npm run bench` (newest last).\n\n## Runs\n');
    appendFileSync(doc, `\n${markdown(results)}`);
  }
  console.log(`\n${markdown(results)}`);
  console.log(`wrote ${file} and bench/results/latest.json; self-check of the results: ok`);
}

main()
  .catch(async (err: unknown) => {
    console.error(err);
    await stopAll();
    process.exitCode = 1;
  })
  .finally(() => setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref());
