// Steady message load over a running stack, for the multi-instance end-to-end tests. The services
// run in the test process (startStack); the devices (20 accounts of a primary and a linked
// companion, spread over the gateways) run in device farm child processes (load-farm.ts), so
// their pure-JS crypto does not starve the services of the test process's one core. Each farm
// sends its share of a paced stream between random accounts with unique numbered texts and
// records every `message` event at its devices; the test gathers it all and accounts for every
// accepted send (load-core.ts: report).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type AccountInfo,
  merge,
  outstanding,
  type QueuedCopy,
  type RunData,
  type RunOptions,
} from './load-core.js';
import type { Stack } from './stack.js';

const FARM = fileURLToPath(new URL('./load-farm.ts', import.meta.url));
const SDK_DIR = fileURLToPath(new URL('../..', import.meta.url));

interface FarmMessage {
  type: string;
  [k: string]: unknown;
}

/** One device farm child process. */
class Farm {
  private readonly waiters: Array<{ type: string; resolve: (m: FarmMessage) => void }> = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<void>;
  error: string | undefined;

  constructor(
    readonly child: ChildProcess,
    stack: Stack,
  ) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderr.push(chunk);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    child.on('message', (m: FarmMessage) => {
      if (m.type === 'code') {
        const handle = String(m.handle);
        child.send({ type: 'code', handle, code: stack.codes.sent.get(handle) });
        return;
      }
      if (m.type === 'error') this.error = String(m.message);
      const i = this.waiters.findIndex((w) => w.type === m.type || m.type === 'error');
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Sends `message` (if any) and waits for a reply of type `type`, at most `timeoutMs`. */
  async request(message: object | undefined, type: string, timeoutMs: number): Promise<FarmMessage> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = new Promise<FarmMessage>((resolve, reject) => {
      this.waiters.push({ type, resolve });
      timer = setTimeout(
        () => reject(new Error(`device farm: no ${type} within ${timeoutMs} ms\n${this.stderr.join('')}`)),
        timeoutMs,
      );
      void this.exited.then(() =>
        reject(new Error(`device farm exited waiting for ${type}\n${this.stderr.join('')}`)),
      );
    });
    if (message) this.child.send(message);
    try {
      const m = await reply;
      if (m.type === 'error') throw new Error(`device farm failed: ${String(m.message)}`);
      return m;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface Farms {
  accounts: AccountInfo[];
  /** Runs the load in every farm at once (`ratePerSec` in total, shared); resolves when all settled. */
  run(options: RunOptions): Promise<void>;
  /** Every farm's sends and arrivals so far. */
  collect(): Promise<RunData>;
  /** Polls until every accepted copy arrived or `graceMs` passed; returns the last data. */
  settle(graceMs: number): Promise<RunData>;
  close(): Promise<void>;
}

/**
 * Starts `farmCount` farms holding `accountCount` accounts between them (account i in farm
 * i mod farmCount; its primary on gateway i mod G, its companion on the next gateway).
 */
export async function startFarms(stack: Stack, accountCount: number, farmCount: number): Promise<Farms> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the farm
  const tag = Date.now().toString(36);
  const farms: Farm[] = [];
  try {
    for (let f = 0; f < farmCount; f++) {
      // TANDEM_FARM_CPU_PROF=<dir>: each farm writes a CPU profile there (to see where its time goes).
      const profile = process.env.TANDEM_FARM_CPU_PROF;
      const flags = profile ? [`--cpu-prof`, `--cpu-prof-dir=${profile}`] : [];
      const child = spawn(
        process.execPath,
        [...flags, '--conditions=@tandem/source', '--import', 'tsx', FARM],
        {
          cwd: SDK_DIR,
          env,
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        },
      );
      const farm = new Farm(child, stack);
      farms.push(farm);
      await farm.request(undefined, 'hello', 30_000);
    }
    const urls = stack.gateways.map((g) => g.url);
    const ready = await Promise.all(
      farms.map((farm, f) =>
        farm.request(
          {
            type: 'setup',
            urls,
            tag,
            concurrency: 5,
            indexes: Array.from({ length: accountCount }, (_, i) => i).filter((i) => i % farmCount === f),
          },
          'ready',
          180_000,
        ),
      ),
    );
    const accounts = ready.flatMap((m) => m.accounts as AccountInfo[]).sort((a, b) => a.index - b.index);
    for (const farm of farms) farm.child.send({ type: 'directory', accounts });
    const collect = async () =>
      merge(
        await Promise.all(
          farms.map(
            async (farm) => (await farm.request({ type: 'collect' }, 'data', 30_000)).data as RunData,
          ),
        ),
      );
    return {
      accounts,
      async run(options) {
        const maxMs = options.durationMs + 180_000;
        await Promise.all(
          farms.map(async (farm, f) => {
            const ran = farm.request(
              {
                type: 'run',
                textPrefix: `load-${tag}-f${f}`,
                options: { ...options, ratePerSec: options.ratePerSec / farmCount },
              },
              'ran',
              maxMs,
            );
            ran.catch(() => undefined);
            const connected = await farm.request(undefined, 'connected', 10_000);
            if (connected.all !== true) throw new Error(`device farm ${f}: not every device is connected`);
            await ran;
          }),
        );
      },
      collect,
      async settle(graceMs) {
        const deadline = Date.now() + graceMs;
        let data = await collect();
        while (outstanding(data) > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1000));
          data = await collect();
        }
        return data;
      },
      close: () => closeFarms(farms),
    };
  } catch (error) {
    await closeFarms(farms);
    throw error;
  }
}

async function closeFarms(farms: Farm[]): Promise<void> {
  await Promise.allSettled(
    farms.map(async (farm) => {
      if (farm.child.exitCode !== null || farm.child.signalCode !== null) return;
      try {
        if (farm.child.connected) await farm.request({ type: 'close' }, 'closed', 15_000);
      } catch {
        // killed below
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        farm.exited.then(() => true),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), 5000);
        }),
      ]);
      clearTimeout(timer);
      if (!exited) {
        farm.child.kill('SIGKILL');
        await farm.exited;
      }
    }),
  );
}

/**
 * Every queued copy and pending outbox entry under the stack's key prefix: the device queues'
 * data hashes (`<prefix>{q:<account>:<device>}:h`, see apps/delivery/src/store/keys.ts) hold
 * `k:<server id>` -> the copy's meta (JSON; `a` = accepted/created at, ms) and `o:<server id>` ->
 * 'd|<meta>' / 'e|<meta>' for receipts not yet enqueued.
 */
export async function queuedCopies(stack: Stack): Promise<QueuedCopy[]> {
  const now = Date.now();
  const out: QueuedCopy[] = [];
  const keys = (await stack.redis.keys()).filter((k) => k.endsWith(':h') && k.includes('{q:'));
  for (const key of keys) {
    const match = /\{q:([^}]+):(\d+)\}:h$/.exec(key);
    const device = match ? `${match[1]}/${match[2]}` : key;
    const fields = await stack.redis.client.hgetall(key);
    for (const [field, value] of Object.entries(fields)) {
      let kind: QueuedCopy['kind'];
      let json: string;
      if (field.startsWith('k:')) {
        json = value;
        kind = value.includes('"t":"r"') ? 'receipt' : 'message';
      } else if (field.startsWith('o:')) {
        json = value.slice(2);
        kind = 'outbox';
      } else continue;
      let atMs = Number.NaN;
      try {
        atMs = Number((JSON.parse(json) as { a?: unknown }).a);
      } catch {
        // unreadable meta: reported with an unknown age
      }
      out.push({ device, serverId: field.slice(2), kind, atMs, ageMs: now - atMs });
    }
  }
  return out;
}

/** A counter of one delivery instance, read from its ops endpoint's /metrics. */
export async function deliveryCounter(stack: Stack, instance: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.deliveries[instance]!.ops.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
