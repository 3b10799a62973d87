/** The four workloads, each run the same way against Tandem and against the raw floor. */
import { randomFillSync } from 'node:crypto';
import { testEnv } from '@tandem/testkit';
import { Redis } from 'ioredis';
import { type Conn, type Cred, FloorConn, type OutCopy, sourceAddress, TandemConn } from './clients.js';
import { cpuMeter, pidsOf, rssBytes, rssPeak, sleep, tcpSockstat } from './proc.js';
import { openQueues } from './queue.js';
import type { Target } from './stack.js';

const OPEN_TIMEOUT_MS = 30_000;
let connCounter = 0;

export function connFor(target: Target, cred: Cred): Conn {
  const opts = { url: target.url, localAddress: sourceAddress(connCounter++), timeoutMs: OPEN_TIMEOUT_MS };
  return target.kind === 'tandem' ? new TandemConn(cred, opts) : new FloorConn(cred, opts);
}

/** Opens connections for `creds` with at most `concurrency` handshakes in flight. */
async function openAll(
  target: Target,
  creds: readonly Cred[],
  concurrency: number,
  deadlineMs: number,
): Promise<{ conns: Conn[]; errors: number; stoppedEarly: string | undefined }> {
  const conns: Conn[] = [];
  let errors = 0;
  let next = 0;
  let stoppedEarly: string | undefined;
  const worker = async () => {
    for (;;) {
      if (stoppedEarly) return;
      const i = next++;
      if (i >= creds.length) return;
      if (Date.now() > deadlineMs) {
        stoppedEarly = 'time cap reached';
        return;
      }
      const c = connFor(target, creds[i]!);
      try {
        await c.open();
        conns.push(c);
      } catch (err) {
        errors++;
        if (errors > Math.max(50, creds.length * 0.01))
          stoppedEarly = `more than 1% of connections failed (last: ${(err as Error).message})`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { conns, errors, stoppedEarly };
}

export const closeAll = async (conns: readonly Conn[]) => {
  for (const c of conns) c.close();
  await sleep(500);
};

// ---- statistics ----------------------------------------------------------------------------

export interface Latency {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function latency(samples: Float64Array, n: number): Latency {
  const s = samples.slice(0, n).sort();
  const at = (p: number) => (n === 0 ? 0 : round(s[Math.min(n - 1, Math.floor(p * n))]!));
  return { count: n, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: n === 0 ? 0 : round(s[n - 1]!) };
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

// ---- 1. idle -------------------------------------------------------------------------------

export interface IdleResult {
  requested: number;
  connected: number;
  errors: number;
  stoppedEarly: string | undefined;
  connectSeconds: number;
  connectsPerSec: number;
  serverRssBeforeBytes: number;
  serverRssAfterBytes: number;
  serverBytesPerConnection: number;
  /** Kernel TCP memory delta over both ends of every loopback connection, per connection. */
  kernelTcpBytesPerConnection: number;
  /** CPU while connecting, % of one core per process group. */
  cpuPercent: Record<string, number>;
}

/** Opens `creds.length` authenticated connections and leaves them open; returns them too. */
export interface IdleBaseline {
  rss: number;
  sockMem: number;
  conns: Conn[];
}

export function idleBaseline(target: Target): IdleBaseline {
  return { rss: rssBytes(target.serverPid), sockMem: tcpSockstat().memBytes, conns: [] };
}

/**
 * Opens `creds` as more authenticated connections on top of `base.conns` and leaves them open;
 * memory is measured against the baseline taken before the first connection.
 */
export async function idle(
  target: Target,
  base: IdleBaseline,
  creds: readonly Cred[],
  capSeconds: number,
): Promise<IdleResult> {
  const rss0 = base.rss;
  const meter = cpuMeter(cpuGroups(target));
  const t0 = performance.now();
  const opened = await openAll(target, creds, 256, Date.now() + capSeconds * 1000);
  const cpuPercent = meter.stop();
  const { errors, stoppedEarly } = opened;
  base.conns.push(...opened.conns);
  const conns = base.conns;
  const seconds = (performance.now() - t0) / 1000;
  await sleep(2000);
  const rss1 = rssBytes(target.serverPid);
  const sock1 = tcpSockstat();
  const sock0 = { memBytes: base.sockMem };
  const n = conns.filter((c) => c.isOpen).length;
  return {
    requested: base.conns.length - opened.conns.length + creds.length,
    connected: n,
    errors,
    stoppedEarly,
    connectSeconds: round(seconds),
    connectsPerSec: Math.round(opened.conns.length / seconds),
    serverRssBeforeBytes: rss0,
    serverRssAfterBytes: rss1,
    serverBytesPerConnection: n === 0 ? 0 : Math.round((rss1 - rss0) / n),
    kernelTcpBytesPerConnection: n === 0 ? 0 : Math.round((sock1.memBytes - sock0.memBytes) / n),
    cpuPercent,
  };
}

// ---- 4. reconnect storm --------------------------------------------------------------------

export interface StormResult {
  devices: number;
  windowSeconds: number;
  /** From the drop until the last device was authenticated again. */
  allBackSeconds: number;
  reauthenticated: number;
  /** Failed attempts (each retried after 500 ms, up to 10 times). */
  errors: number;
  /** Failed attempts by reason. */
  errorKinds: Record<string, number>;
  gaveUp: number;
  /** Time from a device's reconnect attempt to authenticated. */
  reconnectMs: Latency;
  cpuPercent: Record<string, number>;
}

/** Drops every connection in `conns` at once; each comes back at a random time within the window. */
export async function storm(
  target: Target,
  conns: readonly Conn[],
  windowSeconds: number,
): Promise<StormResult> {
  const creds = conns.map((c) => c.cred);
  for (const c of conns) c.drop();
  const meter = cpuMeter(cpuGroups(target));
  const t0 = performance.now();
  const samples = new Float64Array(creds.length);
  let n = 0;
  let errors = 0;
  let gaveUp = 0;
  const errorKinds: Record<string, number> = {};
  const back: Conn[] = [];
  await Promise.all(
    creds.map(async (cred) => {
      await sleep(Math.random() * windowSeconds * 1000);
      for (let attempt = 0; attempt < 10; attempt++) {
        const c = connFor(target, cred);
        const a0 = performance.now();
        try {
          await c.open();
          samples[n++] = performance.now() - a0;
          back.push(c);
          return;
        } catch (err) {
          errors++;
          const kind = (err as Error).message.replace(/\d{3,}/g, 'N');
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
          await sleep(500);
        }
      }
      gaveUp++;
    }),
  );
  const allBack = (performance.now() - t0) / 1000;
  const cpuPercent = meter.stop();
  await closeAll(back);
  return {
    devices: creds.length,
    windowSeconds,
    allBackSeconds: round(allBack),
    reauthenticated: n,
    errors,
    errorKinds,
    gaveUp,
    reconnectMs: latency(samples, n),
    cpuPercent,
  };
}

// ---- 2. online chat ------------------------------------------------------------------------

export interface ChatStep {
  offeredMessagesPerSec: number;
  offeredCopiesPerSec: number;
  seconds: number;
  messages: number;
  expectedCopies: number;
  deliveredCopies: number;
  deliveredCopiesPerSec: number;
  receipts: number;
  sendErrors: number;
  losses: number;
  duplicates: number;
  latencyMs: Latency;
  saturated: boolean;
  /** CPU used during the step by each process group, % of one core. */
  cpuPercent: Record<string, number>;
}

/** The processes whose CPU a step reports: the target's services, this load generator, the stores. */
export function cpuGroups(target: Target): Record<string, number[]> {
  return {
    ...Object.fromEntries(target.services.map((s) => [s.name, [s.pid]])),
    loadgen: [process.pid],
    redis: pidsOf('redis-server'),
    nats: pidsOf('nats-server'),
    postgres: pidsOf('postgres'),
  };
}

export interface ChatResult {
  users: number;
  devicesPerUser: number;
  copiesPerMessage: number;
  payloadBytes: number;
  connected: number;
  steps: ChatStep[];
  maxDeliveredCopiesPerSec: number;
  maxMessagesPerSec: number;
  /** False when even the last step kept up: the max is then a lower bound. */
  saturationReached: boolean;
  halfRate: ChatStep | undefined;
}

/** Bytes of every copy; the first 13 carry u32 message index, u8 copy slot, f64 scheduled send time. */
const PAYLOAD = 200;

/**
 * Users × devices all online; each message goes from a random device of a random user to another
 * random user: one copy per recipient device plus one per other device of the sender (the
 * multi-device sync copies Tandem requires), `PAYLOAD` opaque bytes each. Rates rise step by step
 * (open loop: sends follow the schedule whatever the answers), until deliveries fall behind.
 */
export async function chat(
  target: Target,
  users: readonly Cred[][],
  o: { startRate: number; factor: number; maxSteps: number; stepSeconds: number },
): Promise<{ result: ChatResult; close(): Promise<void> }> {
  const all = users.flat();
  const { conns, errors } = await openAll(target, all, 256, Date.now() + 120_000);
  if (errors > 0 || conns.length !== all.length) {
    await closeAll(conns);
    throw new Error(`chat: ${errors} devices failed to connect`);
  }
  const byCred = new Map(conns.map((c) => [c.cred, c]));
  const devicesPerUser = users[0]!.length;
  const copiesPerMessage = 2 * devicesPerUser - 1;

  // Per-step tracking, replaced at each step; handlers read the current one.
  let seen = new Uint8Array(0);
  let lat = new Float64Array(0);
  let nLat = 0;
  let delivered = 0;
  let duplicates = 0;
  let receipts = 0;
  let sendErrors = 0;
  let lastDeliveryAt = 0;
  let stepBase = 0; // message indexes of this step start here
  for (const c of conns) {
    c.handlers = {
      onDeliver: (p) => {
        const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
        const idx = view.getUint32(0) - stepBase;
        const slot = p[4]!;
        const k = idx * copiesPerMessage + slot;
        if (idx < 0 || k >= seen.length) return; // from an earlier step
        if (seen[k]! > 0) {
          duplicates++;
          return;
        }
        seen[k] = 1;
        delivered++;
        const now = performance.now();
        lastDeliveryAt = now;
        lat[nLat++] = now - view.getFloat64(5);
      },
      onReceipt: () => void receipts++,
      onSendResult: (ok) => {
        if (!ok) sendErrors++;
      },
    };
  }

  const payloads = Buffer.allocUnsafe(PAYLOAD * copiesPerMessage);
  let msgIndex = 0;
  const sendOne = (scheduledAt: number) => {
    const ui = Math.floor(Math.random() * users.length);
    let ri = Math.floor(Math.random() * (users.length - 1));
    if (ri >= ui) ri++;
    const sender = users[ui]![Math.floor(Math.random() * devicesPerUser)]!;
    const targets = [...users[ri]!, ...users[ui]!.filter((d) => d !== sender)];
    randomFillSync(payloads);
    const idx = msgIndex++;
    const copies: OutCopy[] = targets.map((d, slot) => {
      const p = payloads.subarray(slot * PAYLOAD, (slot + 1) * PAYLOAD);
      p.writeUInt32BE(idx, 0);
      p[4] = slot;
      p.writeDoubleBE(scheduledAt, 5);
      return { accountId: d.accountId, deviceId: d.deviceId, registrationId: d.registrationId, payload: p };
    });
    byCred.get(sender)!.send(users[ri]![0]!.accountId, copies);
  };

  const runStep = async (rate: number, seconds: number): Promise<ChatStep> => {
    const total = Math.round(rate * seconds);
    stepBase = msgIndex;
    seen = new Uint8Array(total * copiesPerMessage);
    lat = new Float64Array(total * copiesPerMessage);
    nLat = 0;
    delivered = 0;
    duplicates = 0;
    receipts = 0;
    sendErrors = 0;
    const meter = cpuMeter(cpuGroups(target));
    const t0 = performance.now();
    let sent = 0;
    // Open loop: every 2 ms, send what the schedule says is due (latency counts from the
    // scheduled time, so a slow server cannot hide its queueing).
    while (sent < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate));
      while (sent < due) {
        sendOne(t0 + (sent * 1000) / rate);
        sent++;
      }
      await sleep(2);
    }
    const sendEnd = performance.now();
    const cpuPercent = meter.stop();
    // Wait for stragglers: until all arrived, or nothing new for 3 s, or 15 s.
    const expected = total * copiesPerMessage;
    let last = delivered;
    let quietSince = performance.now();
    while (delivered < expected && performance.now() - sendEnd < 15_000) {
      await sleep(50);
      if (delivered !== last) {
        last = delivered;
        quietSince = performance.now();
      } else if (performance.now() - quietSince > 3000) break;
    }
    await sleep(300); // late duplicates
    const span = Math.max(lastDeliveryAt, sendEnd) - t0;
    const l = latency(lat, nLat);
    const deliveredPerSec = Math.round(delivered / (span / 1000));
    return {
      offeredMessagesPerSec: rate,
      offeredCopiesPerSec: rate * copiesPerMessage,
      seconds,
      messages: total,
      expectedCopies: expected,
      deliveredCopies: delivered,
      deliveredCopiesPerSec: deliveredPerSec,
      receipts,
      sendErrors,
      losses: expected - delivered,
      duplicates,
      latencyMs: l,
      saturated: deliveredPerSec < 0.9 * rate * copiesPerMessage || l.p99 > 1000 || delivered < expected,
      cpuPercent,
    };
  };

  // Warm-up (JIT, caches), not reported.
  await runStep(Math.max(10, o.startRate / 4), 2);
  await sleep(1000);
  const steps: ChatStep[] = [];
  let rate = o.startRate;
  for (let i = 0; i < o.maxSteps; i++) {
    const s = await runStep(rate, o.stepSeconds);
    steps.push(s);
    console.log(
      `    ${target.kind} chat ${rate} msg/s (${s.offeredCopiesPerSec} copies/s offered): ${s.deliveredCopiesPerSec} delivered/s, p50 ${s.latencyMs.p50} p99 ${s.latencyMs.p99} ms, lost ${s.losses}, dup ${s.duplicates}, send errors ${s.sendErrors}; CPU % ${JSON.stringify(s.cpuPercent)}`,
    );
    await sleep(1500);
    if (s.saturated) {
      // Even the first step fell behind: step down (at most twice) to find a sustained rate.
      if (steps.every((x) => x.saturated) && steps.length <= 2 && rate > 4) {
        await sleep(3000);
        rate = Math.max(2, Math.round(rate / 2.5));
        continue;
      }
      break;
    }
    rate = Math.round(rate * o.factor);
  }
  steps.sort((a, b) => a.offeredMessagesPerSec - b.offeredMessagesPerSec);
  const sustained = steps.filter((s) => !s.saturated);
  const best = [...steps].sort((a, b) => b.deliveredCopiesPerSec - a.deliveredCopiesPerSec)[0]!;
  // Max rate: the highest step delivered in full; if even the first fell behind, what it delivered.
  const maxMsgs =
    sustained.length > 0
      ? sustained[sustained.length - 1]!.offeredMessagesPerSec
      : Math.max(1, Math.floor(best.deliveredCopiesPerSec / copiesPerMessage));
  await sleep(2000);
  const half = Math.max(1, Math.round(maxMsgs / 2));
  const halfRate = await runStep(half, o.stepSeconds);
  console.log(
    `    ${target.kind} chat at half of max (${half} msg/s): p50 ${halfRate.latencyMs.p50} p99 ${halfRate.latencyMs.p99} p99.9 ${halfRate.latencyMs.p999} ms, lost ${halfRate.losses}, dup ${halfRate.duplicates}`,
  );
  return {
    result: {
      users: users.length,
      devicesPerUser,
      copiesPerMessage,
      payloadBytes: PAYLOAD,
      connected: conns.length,
      steps,
      maxDeliveredCopiesPerSec: best.deliveredCopiesPerSec,
      maxMessagesPerSec: maxMsgs,
      saturationReached: steps.some((s) => s.saturated),
      halfRate,
    },
    close: () => closeAll(conns),
  };
}

// ---- 3. offline drain ----------------------------------------------------------------------

export interface DrainResult {
  copies: number;
  fillSeconds: number;
  delivered: number;
  duplicatesOrExtra: number;
  /** From authenticated (or hello answered) to queue_empty. */
  drainSeconds: number;
  copiesPerSec: number;
  /** False when no queue_empty came within the cap. */
  completed: boolean;
  /** CPU during the drain, % of one core per process group. */
  cpuPercent: Record<string, number>;
  serverRssBeforeBytes: number;
  serverRssPeakBytes: number;
}

/** Queues `copies` copies for one offline device (delivery's store script), then connects it. */
export async function drain(
  target: Target,
  device: Cred,
  sender: Cred,
  copies: number,
  o: { capSeconds: number },
): Promise<DrainResult> {
  const redis = new Redis(testEnv.redisUrl, { lazyConnect: true });
  await redis.connect();
  const t0 = performance.now();
  try {
    const queues = await openQueues(redis, target.queuePrefix);
    const payload = Buffer.allocUnsafe(PAYLOAD);
    for (let i = 0; i < copies; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, copies - i) }, (_, j) => {
        randomFillSync(payload);
        payload.writeUInt32BE(i + j, 0);
        return {
          sender,
          recipient: device,
          clientMessageId: `d${i + j}`,
          payload: Buffer.from(payload),
        };
      });
      await queues.enqueue(batch);
    }
  } finally {
    redis.disconnect();
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  await sleep(1000);
  const rss0 = rssBytes(target.serverPid);
  const peak = rssPeak(target.serverPid);
  const seen = new Uint8Array(copies);
  let delivered = 0;
  let extra = 0;
  const c = connFor(target, device);
  let emptyAt = 0;
  let closedWith: number | undefined;
  const empty = new Promise<void>((resolve) => {
    c.handlers = {
      onDeliver: (p) => {
        const i = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
        if (i < copies && seen[i] === 0) {
          seen[i] = 1;
          delivered++;
        } else extra++;
      },
      onQueueEmpty: () => {
        emptyAt = performance.now();
        resolve();
      },
      onClose: (code) => {
        closedWith = code;
        resolve();
      },
    };
  });
  if (process.env.BENCH_DRAIN_NO_ACK) c.noAck = true; // experiment: what the ack path costs
  await c.open();
  const meter = cpuMeter(cpuGroups(target));
  const a = performance.now();
  const progress = setInterval(() => console.log(`    … ${delivered} of ${copies} delivered`), 5000);
  await Promise.race([empty, sleep(o.capSeconds * 1000)]);
  clearInterval(progress);
  const cpuPercent = meter.stop();
  if (closedWith !== undefined)
    console.log(`    the server closed the socket (${closedWith}) during the drain`);
  else if (!emptyAt) console.log(`    no queue_empty within ${o.capSeconds} s`);
  const seconds = ((emptyAt || performance.now()) - a) / 1000;
  await sleep(500);
  const peakBytes = peak.stop();
  c.close();
  await sleep(500);
  return {
    copies,
    fillSeconds: round(fillSeconds),
    delivered,
    duplicatesOrExtra: extra,
    drainSeconds: round(seconds, 3),
    copiesPerSec: Math.round(delivered / seconds),
    completed: emptyAt > 0,
    cpuPercent,
    serverRssBeforeBytes: rss0,
    serverRssPeakBytes: peakBytes,
  };
}
