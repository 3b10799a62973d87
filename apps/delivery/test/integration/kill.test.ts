import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type BusRequester,
  create,
  type Deliver,
  DeliveryAcceptRequestSchema,
  DeliveryFetchPageRequestSchema,
  EnvelopeType,
  requestBus,
  type SubjectCatalog,
  subjects,
} from '@tandem/proto';
import { createTestNats, createTestRedis, type TestNats, type TestRedis } from '@tandem/testkit';
import type { DeviceAddress } from '../../src/domain.js';
import { account } from '../fixtures.js';

const PKG = fileURLToPath(new URL('../../', import.meta.url));

let redis: TestRedis;
let nats: TestNats;
let bus: SubjectCatalog;
let requester: BusRequester;
const children: ChildProcess[] = [];

/**
 * Starts `src/main.ts` as a child process (node itself with tsx's loader, so SIGKILL hits the
 * process that serves) and resolves once it logs 'delivery ready'.
 */
function startChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=@tandem/source', '--import', 'tsx', 'src/main.ts'], {
    cwd: PKG,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: nats.prefix,
      OPS_HOST: '127.0.0.1',
      OPS_PORT: '0',
      LOG_LEVEL: 'info',
      SWEEPER_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`child did not start: ${err}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"delivery ready"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code}: ${err}`));
    });
  });
}

beforeAll(async () => {
  redis = await createTestRedis();
  nats = await createTestNats();
  bus = subjects(nats.prefix);
  requester = {
    request: (subject, payload, o) =>
      nats.nc.request(subject, payload, { timeout: o.timeoutMs }).then((m) => m.data),
  };
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  }
  await nats.close();
  await redis.cleanup();
});

const accept = (sender: DeviceAddress, recipients: DeviceAddress[], id: string, timeoutMs: number) =>
  requestBus(
    requester,
    bus.delivery.accept,
    create(DeliveryAcceptRequestSchema, {
      sender,
      clientMessageId: id,
      copies: recipients.map((r) => ({
        recipient: r,
        type: EnvelopeType.MESSAGE,
        ciphertext: new TextEncoder().encode(`${id}/${r.deviceId}`),
      })),
    }),
    { timeoutMs },
  );

async function fetchAll(device: DeviceAddress): Promise<Deliver[]> {
  const all: Deliver[] = [];
  let after = 0n;
  for (;;) {
    const page = await requestBus(
      requester,
      bus.delivery.fetchPage,
      create(DeliveryFetchPageRequestSchema, { device, afterSeq: after, limit: 100 }),
      { timeoutMs: 5000 },
    );
    if (page.result.case !== 'ok') throw new Error('fetch_page failed');
    all.push(...page.result.value.items);
    if (!page.result.value.more || page.result.value.items.length === 0) return all;
    after = page.result.value.items.at(-1)!.seq;
  }
}

describe('a delivery instance killed with SIGKILL', () => {
  it('loses no accepted copy and duplicates none: a new instance delivers every one, once', async () => {
    const [alice] = account(1);
    const bob = account(2);
    const sends = 300;
    const first = await startChild();

    // Accepts in flight when the instance dies: remember which were answered (and with what ids).
    const answered = new Map<string, string[]>();
    let killed = false;
    await Promise.allSettled(
      Array.from({ length: sends }, async (_, i) => {
        const id = `k${i}`;
        const reply = await accept(alice!, bob, id, 2000);
        if (reply.result.case === 'ok') {
          answered.set(
            id,
            reply.result.value.copies.map((c) => c.serverId),
          );
        }
        if (!killed && answered.size >= 100) {
          killed = true;
          first.kill('SIGKILL');
        }
      }),
    );
    expect(killed).toBe(true);
    await new Promise((resolve) =>
      first.exitCode !== null || first.signalCode !== null ? resolve(null) : first.once('exit', resolve),
    );
    expect(first.signalCode).toBe('SIGKILL');
    expect(answered.size).toBeGreaterThanOrEqual(100);

    await startChild();
    // Every copy acknowledged to the sender before the kill is there, exactly once.
    for (const [k, dev] of bob.entries()) {
      const items = await fetchAll(dev);
      const ids = items.map((d) => d.serverId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const [, copyIds] of answered) expect(ids).toContain(copyIds[k]);
    }

    // The sender retries every send (the unanswered ones must be; the answered ones may be).
    for (let i = 0; i < sends; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, sends - i) }, (_, j) => accept(alice!, bob, `k${i + j}`, 5000)),
      );
      batch.forEach((reply, j) => {
        if (reply.result.case !== 'ok') throw new Error('retry failed');
        const before = answered.get(`k${i + j}`);
        if (before) expect(reply.result.value.copies.map((c) => c.serverId)).toEqual(before);
      });
    }
    for (const dev of bob) {
      const items = await fetchAll(dev);
      expect(items).toHaveLength(sends);
      expect(new Set(items.map((d) => d.clientMessageId)).size).toBe(sends);
      for (let i = 1; i < items.length; i++) expect(items[i]!.seq > items[i - 1]!.seq).toBe(true);
    }
  }, 90_000);
});
