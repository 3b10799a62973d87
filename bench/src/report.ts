/** Machine facts, versions, the results document and its Markdown section. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { testEnv } from '@tandem/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { ChatResult, DrainResult, IdleResult, StormResult } from './workloads.js';

export interface Machine {
  nproc: number;
  memoryBytes: number;
  cpuModel: string;
  kernel: string;
  /** 1-minute load average at the start and at the end of the run (other tenants' load shows here). */
  loadAverage: { start: number; end: number };
}

export interface Versions {
  node: string;
  redis: string;
  nats: string;
  postgres: string;
}

export interface TargetResults {
  idle: IdleResult[];
  storm: StormResult | undefined;
  chat: ChatResult | undefined;
  drain: DrainResult | undefined;
}

export interface Results {
  at: string;
  mode: 'quick' | 'full';
  machine: Machine;
  versions: Versions;
  placement: string;
  settings: Record<string, unknown>;
  notes: string[];
  floor: TargetResults;
  tandem: TargetResults;
  ratios: Record<string, number | null>;
  targets: Record<string, { target: string; value: number | null; met: boolean | null }>;
  totalSeconds: number;
}

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: cpus().length,
    memoryBytes: totalmem(),
    cpuModel: cpuinfo.match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? 'unknown',
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadAverage: { start: loadavg()[0]!, end: 0 },
  };
}

export async function versions(): Promise<Versions> {
  const redis = new Redis(testEnv.redisUrl, { lazyConnect: true });
  await redis.connect();
  const info = await redis.info('server');
  redis.disconnect();
  const c = new pg.Client({ connectionString: testEnv.databaseUrl });
  await c.connect();
  const pgv = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await c.end();
  let nats = 'unknown';
  try {
    nats = execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // not on PATH (a remote NATS): left unknown
  }
  return {
    node: process.version,
    redis: info.match(/redis_version:(\S+)/)?.[1] ?? 'unknown',
    nats,
    postgres: pgv,
  };
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 1000) / 1000;

export function computeRatios(r: Pick<Results, 'floor' | 'tandem'>): Results['ratios'] {
  const fi = r.floor.idle.at(-1);
  const ti = r.tandem.idle.at(-1);
  return {
    chatMaxDeliveredCopiesPerSec: ratio(
      r.tandem.chat?.maxDeliveredCopiesPerSec,
      r.floor.chat?.maxDeliveredCopiesPerSec,
    ),
    chatHalfRateP99: ratio(r.tandem.chat?.halfRate?.latencyMs.p99, r.floor.chat?.halfRate?.latencyMs.p99),
    idleServerBytesPerConnection: ratio(ti?.serverBytesPerConnection, fi?.serverBytesPerConnection),
    idleConnectsPerSec: ratio(ti?.connectsPerSec, fi?.connectsPerSec),
    drainCopiesPerSec: ratio(r.tandem.drain?.copiesPerSec, r.floor.drain?.copiesPerSec),
    drainPeakRssDelta: ratio(
      r.tandem.drain ? r.tandem.drain.serverRssPeakBytes - r.tandem.drain.serverRssBeforeBytes : undefined,
      r.floor.drain ? r.floor.drain.serverRssPeakBytes - r.floor.drain.serverRssBeforeBytes : undefined,
    ),
    stormAllBackSeconds: ratio(r.tandem.storm?.allBackSeconds, r.floor.storm?.allBackSeconds),
  };
}

export function computeTargets(r: Pick<Results, 'floor' | 'tandem' | 'ratios'>): Results['targets'] {
  const t = r.tandem;
  const chatSteps = [...(t.chat?.steps ?? []), ...(t.chat?.halfRate ? [t.chat.halfRate] : [])];
  const losses = t.chat ? chatSteps.filter((s) => !s.saturated).reduce((n, s) => n + s.losses, 0) : null;
  const dups = t.chat ? chatSteps.reduce((n, s) => n + s.duplicates, 0) : null;
  const idle = t.idle.at(-1)?.serverBytesPerConnection ?? null;
  const chatRatio = r.ratios.chatMaxDeliveredCopiesPerSec ?? null;
  const p99 = t.chat?.halfRate?.latencyMs.p99 ?? null;
  const drain = t.drain?.copiesPerSec ?? null;
  const met = (v: number | null, ok: (v: number) => boolean) => (v === null ? null : ok(v));
  return {
    chatThroughputVsFloor: {
      target: '>= 0.5 of the floor',
      value: chatRatio,
      met: met(chatRatio, (v) => v >= 0.5),
    },
    chatP99AtHalfMax: { target: '< 25 ms', value: p99, met: met(p99, (v) => v < 25) },
    chatLossesBelowSaturation: { target: '0', value: losses, met: met(losses, (v) => v === 0) },
    chatDuplicates: { target: '0', value: dups, met: met(dups, (v) => v === 0) },
    idleBytesPerConnection: { target: '< 10240', value: idle, met: met(idle, (v) => v < 10240) },
    drainCopiesPerSec: { target: '>= 20000', value: drain, met: met(drain, (v) => v >= 20000) },
  };
}

const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
const x = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v}×`);

export function markdown(r: Results): string {
  const m = r.machine;
  const v = r.versions;
  const lines: string[] = [];
  lines.push(`### ${r.at} — ${r.mode} run`, '');
  lines.push(
    `Machine: ${m.nproc} cores (${m.cpuModel}), ${mb(m.memoryBytes)} RAM, Linux ${m.kernel}; 1-min load average ${m.loadAverage.start.toFixed(1)} at start, ${m.loadAverage.end.toFixed(1)} at end. ` +
      `Versions: Node ${v.node}, Redis ${v.redis}, ${v.nats}, PostgreSQL ${v.postgres}. ` +
      `Placement: ${r.placement} Took ${r.totalSeconds} s.`,
    '',
  );
  lines.push(`Settings: \`${JSON.stringify(r.settings)}\``, '');
  lines.push('| workload | figure | Tandem | floor | Tandem / floor |', '|---|---|---|---|---|');
  for (let i = 0; i < Math.max(r.tandem.idle.length, r.floor.idle.length); i++) {
    const t = r.tandem.idle[i];
    const f = r.floor.idle[i];
    const n = `${t?.connected ?? '—'} / ${f?.connected ?? '—'}`;
    lines.push(
      `| idle (${n} connected) | server RSS per connection | ${t ? kb(t.serverBytesPerConnection) : '—'} | ${f ? kb(f.serverBytesPerConnection) : '—'} | ${x(ratio(t?.serverBytesPerConnection, f?.serverBytesPerConnection))} |`,
      `| idle | kernel TCP memory per connection (both ends) | ${t ? kb(t.kernelTcpBytesPerConnection) : '—'} | ${f ? kb(f.kernelTcpBytesPerConnection) : '—'} | |`,
      `| idle | connects (incl. auth) per second | ${t?.connectsPerSec ?? '—'} | ${f?.connectsPerSec ?? '—'} | ${x(ratio(t?.connectsPerSec, f?.connectsPerSec))} |`,
    );
  }
  const tc = r.tandem.chat;
  const fc = r.floor.chat;
  if (tc && fc) {
    lines.push(
      `| chat ${tc.users}×${tc.devicesPerUser}, ${tc.payloadBytes} B, ${tc.copiesPerMessage} copies/msg | max delivered copies/s | ${tc.saturationReached ? '' : '≥ '}${tc.maxDeliveredCopiesPerSec} | ${fc.saturationReached ? '' : '≥ '}${fc.maxDeliveredCopiesPerSec} | ${x(r.ratios.chatMaxDeliveredCopiesPerSec)} |`,
      `| chat at half of own max (${tc.halfRate?.offeredMessagesPerSec} / ${fc.halfRate?.offeredMessagesPerSec} msg/s) | send→deliver p50 / p99 / p99.9 ms | ${fmtLat(tc.halfRate?.latencyMs)} | ${fmtLat(fc.halfRate?.latencyMs)} | ${x(r.ratios.chatHalfRateP99)} (p99) |`,
      `| chat, all steps | losses / duplicates | ${sum(tc, 'losses')} / ${sum(tc, 'duplicates')} | ${sum(fc, 'losses')} / ${sum(fc, 'duplicates')} | |`,
    );
  }
  const td = r.tandem.drain;
  const fd = r.floor.drain;
  if (td && fd) {
    lines.push(
      `| offline drain ${td.copies} copies | copies/s to one device | ${td.copiesPerSec} | ${fd.copiesPerSec} | ${x(r.ratios.drainCopiesPerSec)} |`,
      `| offline drain | server peak RSS (before) | ${mb(td.serverRssPeakBytes)} (${mb(td.serverRssBeforeBytes)}) | ${mb(fd.serverRssPeakBytes)} (${mb(fd.serverRssBeforeBytes)}) | |`,
    );
  }
  const ts = r.tandem.storm;
  const fs = r.floor.storm;
  if (ts && fs) {
    lines.push(
      `| reconnect storm ${ts.devices} devices within ${ts.windowSeconds} s | all re-authenticated after | ${ts.allBackSeconds} s | ${fs.allBackSeconds} s | ${x(r.ratios.stormAllBackSeconds)} |`,
      `| reconnect storm | errors / gave up; reconnect p99 | ${ts.errors} / ${ts.gaveUp}; ${ts.reconnectMs.p99} ms | ${fs.errors} / ${fs.gaveUp}; ${fs.reconnectMs.p99} ms | |`,
    );
  }
  lines.push(
    '',
    'Chat steps (Tandem | floor): offered msg/s → delivered copies/s, p99 ms, losses, duplicates',
    '',
  );
  for (const [name, c] of [
    ['Tandem', tc],
    ['floor', fc],
  ] as const) {
    if (!c) continue;
    lines.push(
      `- ${name}: ${c.steps
        .map(
          (s) =>
            `${s.offeredMessagesPerSec} → ${s.deliveredCopiesPerSec}, ${s.latencyMs.p99} ms, ${s.losses}, ${s.duplicates}${s.saturated ? ' (saturated)' : ''}`,
        )
        .join('; ')}`,
    );
  }
  lines.push('', 'Targets (reported, not asserted):', '');
  for (const [k, t] of Object.entries(r.targets)) {
    lines.push(
      `- ${k}: ${t.value ?? '—'} (target ${t.target}) — ${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}`,
    );
  }
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `- ${n}`));
  lines.push('');
  return lines.join('\n');
}

const fmtLat = (l: { p50: number; p99: number; p999: number } | undefined) =>
  l ? `${l.p50} / ${l.p99} / ${l.p999}` : '—';
const sum = (c: ChatResult, k: 'losses' | 'duplicates') =>
  [...c.steps, ...(c.halfRate ? [c.halfRate] : [])].reduce((n, s) => n + s[k], 0);

/** Throws unless `r` has the shape `main` writes (the self-check of a run). */
export function checkResults(r: unknown): void {
  const o = r as Results;
  const need = (cond: boolean, what: string) => {
    if (!cond) throw new Error(`results self-check failed: ${what}`);
  };
  need(typeof o === 'object' && o !== null, 'not an object');
  need(o.mode === 'quick' || o.mode === 'full', 'mode');
  need(typeof o.machine?.nproc === 'number' && o.machine.nproc > 0, 'machine.nproc');
  need(typeof o.versions?.node === 'string', 'versions');
  for (const side of ['floor', 'tandem'] as const) {
    const t = o[side];
    need(Array.isArray(t?.idle) && t.idle.length > 0 && t.idle.every((i) => i.connected > 0), `${side}.idle`);
    need(!!t.chat && t.chat.steps.length > 0 && t.chat.maxDeliveredCopiesPerSec > 0, `${side}.chat`);
    need(!!t.drain && t.drain.delivered > 0 && t.drain.copiesPerSec > 0, `${side}.drain`);
    need(!!t.storm && t.storm.reauthenticated > 0, `${side}.storm`);
  }
  need(typeof o.ratios?.chatMaxDeliveredCopiesPerSec === 'number', 'ratios');
  need(typeof o.targets === 'object', 'targets');
}
