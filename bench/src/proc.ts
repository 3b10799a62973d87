/** Child processes, ports and /proc readings. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Hard limit of open files of this process (soft limits are raised to it; the hard one cannot be). */
export function hardFileLimit(): number {
  const m = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\S+\s+(\d+|unlimited)/);
  return !m || m[1] === 'unlimited' ? 1_048_576 : Number(m[1]);
}

export const NOFILE = hardFileLimit();

export interface Service {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node args` with a raised open-file limit (prlimit), pinned to `cpus` (taskset) when
 * given. Both tools exec, so the child's pid is node's. Output goes to `logFile`.
 */
export function startNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  logFile: string,
  cpus?: string,
): Service {
  const cmd = ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--'];
  if (cpus) cmd.push('taskset', '-c', cpus);
  cmd.push(process.execPath, ...args);
  const out = createWriteStream(logFile);
  const proc = spawn(cmd[0]!, cmd.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    name,
    proc,
    pid: proc.pid!,
    logFile,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Waits until `url` answers 200, or the process exits, or `timeoutMs` passes. */
export async function waitHttpOk(svc: Service, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (svc.proc.exitCode !== null)
      throw new Error(`${svc.name} exited (${svc.proc.exitCode}); see ${svc.logFile}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`${svc.name} not ready at ${url} within ${timeoutMs} ms; see ${svc.logFile}`);
}

/** Waits for a line on stdout matching `re`; returns the match. */
export function waitLine(svc: Service, re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${svc.name}: no ${re} within ${timeoutMs} ms`)), timeoutMs);
    svc.proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = buf.match(re);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    svc.proc.once('exit', (code) => reject(new Error(`${svc.name} exited (${code}); see ${svc.logFile}`)));
  });
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Kernel TCP memory (all sockets of the machine; pages of 4 KiB) and sockets in use. */
export function tcpSockstat(): { inuse: number; memBytes: number } {
  const m = readFileSync('/proc/net/sockstat', 'utf8').match(/TCP: inuse (\d+) .* mem (\d+)/);
  return m ? { inuse: Number(m[1]), memBytes: Number(m[2]) * 4096 } : { inuse: 0, memBytes: 0 };
}

/** Soft limit of open files of this process. */
export function openFileLimit(): number {
  const m = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+|unlimited)/);
  return m ? (m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])) : 0;
}

/** Samples a process's RSS every `everyMs` and keeps the peak. */
export function rssPeak(pid: number, everyMs = 50): { stop(): number } {
  let peak = rssBytes(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // process gone
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

/** CPU time (user + system) of a process, seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** Pids of processes whose command name is `comm` (e.g. redis-server, nats-server, postgres). */
export function pidsOf(comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Time the main thread of `pid` spent waiting for a CPU on a run queue, seconds (schedstat). */
export function runQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0;
  }
}

/**
 * Measures the CPU each named group of processes used between start() and stop(), as a share of
 * one core (100 = one core busy the whole time); `<name>.wait` is the share of the time the
 * group's main threads waited for a CPU while runnable (CPU starvation, e.g. other tenants).
 */
export function cpuMeter(groups: Record<string, number[]>): { stop(): Record<string, number> } {
  const t0 = performance.now();
  const sum = (pids: number[], f: (p: number) => number) => pids.reduce((s, p) => s + f(p), 0);
  const before = Object.fromEntries(
    Object.entries(groups).map(([k, pids]) => [k, [sum(pids, cpuSeconds), sum(pids, runQueueWaitSeconds)]]),
  );
  return {
    stop() {
      const secs = (performance.now() - t0) / 1000;
      const out: Record<string, number> = {};
      for (const [k, pids] of Object.entries(groups)) {
        const [cpu0, wait0] = before[k]!;
        // Processes of a group that exited meanwhile (Postgres backends) would make it negative.
        out[k] = Math.max(0, Math.round(((sum(pids, cpuSeconds) - cpu0!) / secs) * 100));
        if (pids.length === 1)
          out[`${k}.wait`] = Math.round(((sum(pids, runQueueWaitSeconds) - wait0!) / secs) * 100);
      }
      return out;
    },
  };
}
