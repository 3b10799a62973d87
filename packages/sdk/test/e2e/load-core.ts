// The parts of the multi-instance load tests that run where the devices run (a device farm child
// process, see load-farm.ts) and the accounting the test does at the end. Nothing here imports
// the services: a farm only talks to the gateways over WebSockets.
import { setTimeout as sleep } from 'node:timers/promises';
import { type InboundMessage, MemoryStore, TandemClient, TandemError } from '../../src/index.js';

/** A positive number from the environment, else the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

/** Writes the test's report to stderr (jest shows it with the run). */
export function print(text: string): void {
  process.stderr.write(`${text}\n`);
}

export interface DeviceInfo {
  /** `<account index>.<device id>`, for reports. */
  name: string;
  /** `<account id>/<device id>`. */
  key: string;
  accountIndex: number;
  accountId: string;
  deviceId: number;
  gateway: number;
}

export interface AccountInfo {
  index: number;
  id: string;
  devices: DeviceInfo[];
}

export const keyOf = (accountId: string, deviceId: number) => `${accountId}/${deviceId}`;

/**
 * Registers account `index` (its primary on gateway index mod G) and links one companion (on the
 * next gateway). No message is sent: sessions between devices start under the load itself.
 */
export async function createAccount(
  urls: string[],
  index: number,
  tag: string,
  getCode: (handle: string) => Promise<string>,
): Promise<{ info: AccountInfo; clients: Map<string, TandemClient> }> {
  const primaryGateway = index % urls.length;
  const companionGateway = (index + 1) % urls.length;
  const options = (gateway: number) => ({
    url: urls[gateway]!,
    store: new MemoryStore(),
    reconnectDelayMs: { min: 20, max: 200 },
  });
  // Set-up, not the promise under test: an attempt a busy service did not answer in time is made
  // again with a new handle (at most 3 attempts; the kill test gives services 1 s per request).
  let phone: TandemClient | undefined;
  let companion: TandemClient | undefined;
  let link: Awaited<ReturnType<typeof TandemClient.link>> | undefined;
  for (let attempt = 1; !companion; attempt++) {
    const handle = `load${index}_${tag}_${attempt}`;
    try {
      phone = await TandemClient.register({
        ...options(primaryGateway),
        handle,
        name: `load ${index} phone`,
        getCode: () => getCode(handle),
      });
      link = await TandemClient.link({ ...options(companionGateway), name: `load ${index} companion` });
      await phone.approveLink(link.qr);
      companion = await link.done;
    } catch (error) {
      await link?.cancel().catch(() => undefined);
      link?.done.catch(() => undefined);
      await phone?.close().catch(() => undefined);
      phone = undefined;
      link = undefined;
      if (attempt >= 3 || !(error instanceof TandemError && error.code === 'TIMEOUT')) throw error;
    }
  }
  if (!phone) throw new Error('unreachable: a companion without its phone');
  const info: AccountInfo = { index, id: phone.accountId, devices: [] };
  const clients = new Map<string, TandemClient>();
  for (const [client, gateway] of [
    [phone, primaryGateway],
    [companion, companionGateway],
  ] as const) {
    const device: DeviceInfo = {
      name: `${index}.${client.deviceId}`,
      key: keyOf(client.accountId, client.deviceId),
      accountIndex: index,
      accountId: client.accountId,
      deviceId: client.deviceId,
      gateway,
    };
    info.devices.push(device);
    clients.set(device.key, client);
  }
  return { info, clients };
}

export interface SendRecord {
  n: number;
  text: string;
  from: DeviceInfo;
  toAccountId: string;
  startedAtMs: number;
  /** Set when a send() call resolved. */
  acceptedAtMs?: number;
  clientMessageId?: string;
  /** Every device the message must reach once: the recipient account's and the sender's others. */
  addressed: DeviceInfo[];
  /** Server id of each addressed device's copy (device key -> id), from the accepted send. */
  serverIds: Record<string, string>;
  /** send() calls made (1 + retries with the same clientMessageId). */
  attempts: number;
  /** Error codes of rejected send() calls, in order. */
  errors: string[];
}

export interface Arrival {
  text: string;
  device: string;
  atMs: number;
  from: { accountId: string; deviceId: number };
  sentTo: string | undefined;
  serverId: string;
}

export interface RunOptions {
  durationMs: number;
  /** This farm's share of the total rate. */
  ratePerSec: number;
  /** No new send starts while this many of this farm's are unsettled (counted as skipped). */
  maxInFlight: number;
  /**
   * Retries of a rejected send with the clientMessageId its error named (its outcome may be
   * unknown); 0 = none. A retry waits `retryDelayMs` and never starts 30 s after the load ended.
   */
  retries: number;
  retryDelayMs: number;
  /** When the first send goes out (ms since the epoch), the same for every farm. */
  startAtMs: number;
}

/** What a farm hands back: its sends and what its devices got. */
export interface RunData {
  sends: SendRecord[];
  arrivals: Arrival[];
  /** `message` with account ids replaced (for counting), `raw` as the SDK wrote it. */
  warnings: Array<{ device: string; message: string; raw: string }>;
  disconnects: Array<{ device: string; atMs: number; code: number; reason: string }>;
  skipped: number;
  startedAtMs: number;
  endedAtMs: number;
}

/** Error codes after which retrying the same send cannot help. */
const FINAL = new Set(['INVALID_ARGUMENT', 'UNTRUSTED_DEVICES', 'NOT_REGISTERED', 'DEVICE_REVOKED']);

/** One farm's load: its devices send to random accounts (of every farm) and count what arrives. */
export class LoadRun {
  readonly data: RunData = {
    sends: [],
    arrivals: [],
    warnings: [],
    disconnects: [],
    skipped: 0,
    startedAtMs: 0,
    endedAtMs: 0,
  };
  private readonly local: DeviceInfo[];

  constructor(
    private readonly directory: AccountInfo[],
    private readonly clients: Map<string, TandemClient>,
    private readonly textPrefix: string,
  ) {
    this.local = directory.flatMap((a) => a.devices).filter((d) => clients.has(d.key));
    for (const device of this.local) {
      const client = clients.get(device.key)!;
      client.on('message', (m: InboundMessage) => {
        this.data.arrivals.push({
          text: m.text,
          device: device.key,
          atMs: Date.now(),
          from: { accountId: m.from.accountId, deviceId: m.from.deviceId },
          sentTo: m.sentTo,
          serverId: m.serverId,
        });
      });
      client.on('warning', (w) => {
        // Account ids vary; the kind of warning and its cause are what the report counts.
        const cause =
          w.error instanceof TandemError
            ? w.error.code
            : w.error instanceof Error
              ? w.error.message.slice(0, 80)
              : undefined;
        const message = w.message.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<account>');
        this.data.warnings.push({
          device: device.key,
          message: cause ? `${message} (${cause})` : message,
          raw: w.message,
        });
      });
      client.on('disconnected', (e) => {
        this.data.disconnects.push({ device: device.name, atMs: Date.now(), code: e.code, reason: e.reason });
      });
    }
  }

  /** Paced sends for `durationMs` (bounded in count too), then waits for every send to settle. */
  async run(options: RunOptions): Promise<void> {
    const intervalMs = 1000 / options.ratePerSec;
    const maxCount = Math.ceil((options.durationMs / 1000) * options.ratePerSec);
    const start = options.startAtMs;
    const end = start + options.durationMs;
    const retryUntilMs = end + 30_000;
    if (start > Date.now()) await sleep(start - Date.now());
    this.data.startedAtMs = start;
    const pending: Array<Promise<void>> = [];
    let inFlight = 0;
    for (let n = 0; n < maxCount && Date.now() < end; n++) {
      const wait = start + n * intervalMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (inFlight >= options.maxInFlight) {
        this.data.skipped++;
        continue;
      }
      const record = this.newRecord(n);
      inFlight++;
      pending.push(this.sendOne(record, options, retryUntilMs).finally(() => inFlight--));
    }
    this.data.endedAtMs = Date.now();
    // Each send settles on its own (the SDK's and the gateway's timeouts bound it); this bound only
    // keeps a hung send from hanging the test.
    const bound = new AbortController();
    await Promise.race([
      Promise.allSettled(pending),
      sleep(retryUntilMs - Date.now() + 60_000, undefined, { signal: bound.signal }).catch(() => undefined),
    ]);
    bound.abort();
  }

  private newRecord(n: number): SendRecord {
    const from = this.local[Math.floor(Math.random() * this.local.length)]!;
    const others = this.directory.filter((a) => a.id !== from.accountId);
    const to = others[Math.floor(Math.random() * others.length)]!;
    const own = this.directory.find((a) => a.id === from.accountId)!;
    const record: SendRecord = {
      n,
      text: `${this.textPrefix}-${n}`,
      from,
      toAccountId: to.id,
      startedAtMs: Date.now(),
      addressed: [...to.devices, ...own.devices.filter((d) => d.key !== from.key)],
      serverIds: {},
      attempts: 0,
      errors: [],
    };
    this.data.sends.push(record);
    return record;
  }

  private async sendOne(record: SendRecord, options: RunOptions, retryUntilMs: number): Promise<void> {
    const client = this.clients.get(record.from.key)!;
    for (let attempt = 0; attempt <= options.retries; attempt++) {
      record.attempts++;
      try {
        const result = await client.send(
          record.toAccountId,
          { text: record.text },
          record.clientMessageId === undefined ? {} : { clientMessageId: record.clientMessageId },
        );
        record.acceptedAtMs = Date.now();
        record.clientMessageId = result.clientMessageId;
        for (const c of result.copies) record.serverIds[keyOf(c.accountId, c.deviceId)] = c.serverId;
        return;
      } catch (error) {
        const code = error instanceof TandemError ? error.code : `thrown: ${String(error)}`;
        record.errors.push(code);
        if (error instanceof TandemError && error.extra.clientMessageId !== undefined) {
          record.clientMessageId = error.extra.clientMessageId;
        }
        if (FINAL.has(code) || attempt === options.retries) return;
        if (Date.now() + options.retryDelayMs > retryUntilMs) return;
        await sleep(options.retryDelayMs);
      }
    }
  }
}

/** Every farm's data as one. */
export function merge(parts: RunData[]): RunData {
  return {
    sends: parts.flatMap((p) => p.sends),
    arrivals: parts.flatMap((p) => p.arrivals),
    warnings: parts.flatMap((p) => p.warnings),
    disconnects: parts.flatMap((p) => p.disconnects),
    skipped: parts.reduce((n, p) => n + p.skipped, 0),
    startedAtMs: Math.min(...parts.map((p) => p.startedAtMs)),
    endedAtMs: Math.max(...parts.map((p) => p.endedAtMs)),
  };
}

/** Copies of accepted sends that have not arrived at an addressed device yet. */
export function outstanding(data: RunData): number {
  const got = new Set(data.arrivals.map((a) => `${a.text}|${a.device}`));
  let n = 0;
  for (const s of data.sends) {
    if (s.acceptedAtMs === undefined) continue;
    for (const d of s.addressed) if (!got.has(`${s.text}|${d.key}`)) n++;
  }
  return n;
}

/** One queued copy (or pending receipt) found in Redis. */
export interface QueuedCopy {
  device: string;
  serverId: string;
  kind: 'message' | 'receipt' | 'outbox';
  /** Accepted at (message), created at (receipt), or the original's acceptance (outbox entry). */
  atMs: number;
  ageMs: number;
}

export interface LoadReport {
  attempted: number;
  skipped: number;
  accepted: number;
  acceptedAfterRetry: number;
  failed: number;
  failedByCode: Record<string, number>;
  errorsByCode: Record<string, number>;
  expectedCopies: number;
  delivered: number;
  missing: Array<{
    text: string;
    from: string;
    to: string;
    gateways: string;
    serverId: string | undefined;
    stillQueued: boolean;
    /** The two devices' first messages to each other started within 3 s of each other. */
    concurrentFirstContact: boolean;
    /**
     * What the receiving device warned about the sending device during the run, if anything
     * (the SDK's warnings name the sender, not the message): 'undecryptable' (cannot decrypt a
     * message from it) and/or 'dropped as unverified' (its device list did not verify).
     */
    receiverWarned: string[];
    acceptedAtS: number;
  }>;
  duplicated: Array<{ text: string; device: string; count: number; serverIds: string[] }>;
  /** Copies whose sender or sync marker is wrong for the device that got them. */
  misrouted: Array<{ text: string; device: string; why: string }>;
  /** Copies of sends that were rejected (the outcome was unknown; allowed, reported). */
  deliveredOfRejected: number;
  /** Messages whose text is none of the run's. */
  foreign: number;
  maxDelayMs: number;
  p99DelayMs: number;
  stuck: QueuedCopy[];
  warnings: Record<string, number>;
  disconnects: number;
}

const countBy = (items: string[]) => {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
};

/**
 * Accounts for every send of the run: each accepted message at each addressed device exactly
 * once, with the right sender and sync marker; and what Redis holds that was queued more than
 * `graceMs` before the scan.
 */
export function report(data: RunData, queued: QueuedCopy[], graceMs: number): LoadReport {
  const accepted = data.sends.filter((s) => s.acceptedAtMs !== undefined);
  const queuedIds = new Set(
    queued.filter((q) => q.kind !== 'outbox').map((q) => `${q.device}|${q.serverId}`),
  );
  const arrivals = new Map<string, Map<string, Arrival[]>>();
  const texts = new Set(data.sends.map((s) => s.text));
  let foreign = 0;
  for (const a of data.arrivals) {
    if (!texts.has(a.text)) {
      foreign++;
      continue;
    }
    const perDevice = arrivals.get(a.text) ?? new Map<string, Arrival[]>();
    arrivals.set(a.text, perDevice);
    perDevice.set(a.device, [...(perDevice.get(a.device) ?? []), a]);
  }
  // First accepted copy from one device to another (by send start), to spot crossed first contact.
  const firstCopy = new Map<string, number>();
  for (const s of [...accepted].sort((a, b) => a.startedAtMs - b.startedAtMs)) {
    for (const d of s.addressed) {
      const k = `${s.from.key}>${d.key}`;
      if (!firstCopy.has(k)) firstCopy.set(k, s.startedAtMs);
    }
  }
  const r: LoadReport = {
    attempted: data.sends.length,
    skipped: data.skipped,
    accepted: accepted.length,
    acceptedAfterRetry: accepted.filter((s) => s.attempts > 1).length,
    failed: data.sends.length - accepted.length,
    failedByCode: countBy(
      data.sends.filter((s) => s.acceptedAtMs === undefined).map((s) => s.errors.at(-1) ?? 'none'),
    ),
    errorsByCode: countBy(data.sends.flatMap((s) => s.errors)),
    expectedCopies: 0,
    delivered: 0,
    missing: [],
    duplicated: [],
    misrouted: [],
    deliveredOfRejected: 0,
    foreign,
    maxDelayMs: 0,
    p99DelayMs: 0,
    stuck: queued.filter((q) => !(q.ageMs <= graceMs)),
    warnings: countBy(data.warnings.map((w) => w.message)),
    disconnects: data.disconnects.length,
  };
  const warned = new Set(data.warnings.map((w) => `${w.device}|${w.raw}`));
  const receiverWarned = (s: SendRecord, d: DeviceInfo) => {
    const sender = `${s.from.accountId}/${s.from.deviceId}`;
    const out: string[] = [];
    if (warned.has(`${d.key}|cannot decrypt a message from ${sender}`)) out.push('undecryptable');
    if (warned.has(`${d.key}|dropping a message from ${sender}: not a verified device`)) {
      out.push('dropped as unverified');
    }
    return out;
  };
  const delays: number[] = [];
  for (const s of data.sends) {
    const got = arrivals.get(s.text);
    if (s.acceptedAtMs === undefined) {
      for (const list of got?.values() ?? []) r.deliveredOfRejected += list.length;
      continue;
    }
    const addressedKeys = new Set(s.addressed.map((d) => d.key));
    for (const deviceKey of got?.keys() ?? []) {
      if (!addressedKeys.has(deviceKey))
        r.misrouted.push({ text: s.text, device: deviceKey, why: 'not addressed' });
    }
    for (const d of s.addressed) {
      r.expectedCopies++;
      const list = got?.get(d.key) ?? [];
      if (list.length === 0) {
        const serverId = s.serverIds[d.key];
        const mine = firstCopy.get(`${s.from.key}>${d.key}`);
        const theirs = firstCopy.get(`${d.key}>${s.from.key}`);
        r.missing.push({
          text: s.text,
          from: s.from.name,
          to: d.name,
          gateways: `${s.from.gateway}>${d.gateway}`,
          serverId,
          stillQueued: serverId !== undefined && queuedIds.has(`${d.key}|${serverId}`),
          concurrentFirstContact:
            mine !== undefined && theirs !== undefined && Math.abs(mine - theirs) < 3000,
          receiverWarned: receiverWarned(s, d),
          acceptedAtS: Math.round((s.acceptedAtMs - data.startedAtMs) / 100) / 10,
        });
        continue;
      }
      r.delivered++;
      if (list.length > 1) {
        r.duplicated.push({
          text: s.text,
          device: d.name,
          count: list.length,
          serverIds: list.map((a) => a.serverId),
        });
      }
      const m = list[0]!;
      const isSync = d.accountId === s.from.accountId;
      if (m.from.accountId !== s.from.accountId || m.from.deviceId !== s.from.deviceId) {
        r.misrouted.push({
          text: s.text,
          device: d.name,
          why: `from ${m.from.accountId}/${m.from.deviceId}`,
        });
      } else if (isSync ? m.sentTo !== s.toAccountId : m.sentTo !== undefined) {
        r.misrouted.push({ text: s.text, device: d.name, why: `sentTo ${String(m.sentTo)}` });
      }
      delays.push(m.atMs - s.startedAtMs);
    }
  }
  delays.sort((a, b) => a - b);
  r.maxDelayMs = delays.at(-1) ?? 0;
  r.p99DelayMs = delays[Math.floor(delays.length * 0.99)] ?? 0;
  return r;
}

/** The one-line summary the tests print. */
export function summaryLine(name: string, r: LoadReport): string {
  const failed = Object.entries(r.failedByCode)
    .map(([c, n]) => `${c}:${n}`)
    .join(',');
  return (
    `${name}: attempted=${r.attempted} accepted=${r.accepted} (after retry ${r.acceptedAfterRetry}) ` +
    `failed=${r.failed}${failed ? ` [${failed}]` : ''} skipped=${r.skipped} ` +
    `copies expected=${r.expectedCopies} delivered=${r.delivered} missing=${r.missing.length} ` +
    `duplicated=${r.duplicated.length} misrouted=${r.misrouted.length} ` +
    `stuck in redis=${r.stuck.length} max delay=${r.maxDelayMs} ms (p99 ${r.p99DelayMs} ms)`
  );
}

/** The details behind the summary, bounded (the first `limit` of each list). */
export function details(r: LoadReport, limit = 15): string {
  const sync = r.missing.filter((m) => m.from.split('.')[0] === m.to.split('.')[0]).length;
  return [
    `errors of send() calls by code: ${JSON.stringify(r.errorsByCode)}`,
    `missing: ${r.missing.length} (still queued in Redis: ${r.missing.filter((m) => m.stillQueued).length}; ` +
      `between devices whose first messages to each other crossed: ${r.missing.filter((m) => m.concurrentFirstContact).length}; ` +
      `sync copies: ${sync}; receiver warned "cannot decrypt" about the sender: ` +
      `${r.missing.filter((m) => m.receiverWarned.includes('undecryptable')).length}, ` +
      `"not a verified device": ${r.missing.filter((m) => m.receiverWarned.includes('dropped as unverified')).length}; ` +
      `neither and not queued: ${r.missing.filter((m) => !m.stillQueued && m.receiverWarned.length === 0).length})`,
    ...r.missing.slice(0, limit).map((m) => `  missing ${JSON.stringify(m)}`),
    ...r.duplicated.slice(0, limit).map((d) => `  duplicated ${JSON.stringify(d)}`),
    ...r.misrouted.slice(0, limit).map((d) => `  misrouted ${JSON.stringify(d)}`),
    `stuck in Redis: ${r.stuck.length} ${JSON.stringify(countBy(r.stuck.map((s) => s.kind)))}`,
    ...r.stuck.slice(0, limit).map((s) => `  stuck ${JSON.stringify(s)}`),
    `copies of rejected sends delivered: ${r.deliveredOfRejected}; foreign messages: ${r.foreign}; ` +
      `device disconnects: ${r.disconnects}`,
    `device warnings: ${JSON.stringify(r.warnings)}`,
  ].join('\n');
}
