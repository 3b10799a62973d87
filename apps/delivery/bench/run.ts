/**
 * Micro-benchmark of delivery's store layer against the local Redis: accept (check + store, one
 * pipelined script per device), deliver (read pages) and ack (with delivered receipts, which the
 * sender then reads and acks too), per second. Prints a table; writes bench/results.json.
 *
 *   npm run bench -w apps/delivery        (REDIS_URL, default redis://127.0.0.1:6379)
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import {
  type BusRequester,
  create,
  DeliveryAcceptRequestSchema,
  DeliveryAckRequestSchema,
  DeliveryFetchPageRequestSchema,
  EnvelopeType,
  requestBus,
  subjects,
} from '@tandem/proto';
import { Redis } from 'ioredis';
import { loadDeliveryConfig, startDelivery } from '../src/app.js';
import { systemClock } from '../src/clock.js';
import { createDeliveryCore } from '../src/core.js';
import type { DeviceAddress } from '../src/domain.js';
import { noMetrics } from '../src/ports.js';
import type { DeliveryService } from '../src/service/delivery-service.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `bench${Date.now().toString(36)}:`;

interface Row {
  layer: 'store' | 'nats';
  scenario: string;
  sends: number;
  copies: number;
  concurrency: number;
  acceptSeconds: number;
  deliverAckSeconds: number;
  acceptCopiesPerSec: number;
  deliverAckCopiesPerSec: number;
  endToEndCopiesPerSec: number;
}

const devicesOf = (n: number): DeviceAddress[] => {
  const accountId = randomUUID();
  return Array.from({ length: n }, (_, i) => ({ accountId, deviceId: i + 1 }));
};

async function drainAndAck(service: DeliveryService, device: DeviceAddress): Promise<number> {
  let n = 0;
  for (;;) {
    const page = await service.fetchPage(device, 0, 100);
    if (page.copies.length === 0) return n;
    n += page.copies.length;
    await service.ack(
      device,
      page.copies.map((c) => c.serverId),
    );
  }
}

async function scenario(
  service: DeliveryService,
  name: string,
  sends: number,
  recipientsPerSend: number,
  concurrency: number,
  payloadBytes: number,
): Promise<Row> {
  const senders = Array.from({ length: concurrency }, () => devicesOf(1)[0]!);
  const recipients = Array.from({ length: concurrency }, () => devicesOf(recipientsPerSend));
  const ciphertext = new Uint8Array(payloadBytes).fill(42);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    senders.map(async (sender, w) => {
      for (;;) {
        const i = next++;
        if (i >= sends) return;
        await service.accept({
          sender,
          clientMessageId: `m${i}`,
          copies: recipients[w]!.map((r) => ({ recipient: r, envelopeType: 2, ciphertext })),
        });
      }
    }),
  );
  const t1 = performance.now();
  const delivered = await Promise.all(recipients.flat().map((d) => drainAndAck(service, d)));
  const receipts = await Promise.all(senders.map((d) => drainAndAck(service, d)));
  const t2 = performance.now();
  const copies = sends * recipientsPerSend;
  if (delivered.reduce((a, b) => a + b, 0) !== copies || receipts.reduce((a, b) => a + b, 0) !== copies) {
    throw new Error(`${name}: delivered or receipts count mismatch`);
  }
  const acceptSeconds = (t1 - t0) / 1000;
  const deliverAckSeconds = (t2 - t1) / 1000;
  return {
    layer: 'store',
    scenario: name,
    sends,
    copies,
    concurrency,
    acceptSeconds: round(acceptSeconds),
    deliverAckSeconds: round(deliverAckSeconds),
    acceptCopiesPerSec: Math.round(copies / acceptSeconds),
    deliverAckCopiesPerSec: Math.round(copies / deliverAckSeconds),
    endToEndCopiesPerSec: Math.round(copies / (acceptSeconds + deliverAckSeconds)),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The same flow through NATS: requests to an in-process delivery instance (queue group
 * 'delivery'), which also publishes every copy and receipt to the inbox subjects.
 */
async function natsScenario(name: string, sends: number, recipientsPerSend: number, concurrency: number) {
  const natsPrefix = `bench_${Date.now().toString(36)}`;
  const app = await startDelivery(
    loadDeliveryConfig({
      REDIS_URL,
      REDIS_KEY_PREFIX: `${prefix}n:`,
      NATS_URL,
      NATS_SUBJECT_PREFIX: natsPrefix,
      OPS_HOST: '127.0.0.1',
      OPS_PORT: '0',
      LOG_LEVEL: 'silent',
      SWEEPER_ENABLED: 'false',
      QUEUE_MAX_COPIES: '100000',
    }),
  );
  const nc = await connect({ servers: NATS_URL, name: 'delivery-bench' });
  const bus = subjects(natsPrefix);
  const requester: BusRequester = {
    request: (subject, payload, o) =>
      nc.request(subject, payload, { timeout: o.timeoutMs }).then((m) => m.data),
  };
  const opts = { timeoutMs: 10_000 };
  const ciphertext = new Uint8Array(256).fill(42);
  const senders = Array.from({ length: concurrency }, () => devicesOf(1)[0]!);
  const recipients = Array.from({ length: concurrency }, () => devicesOf(recipientsPerSend));
  try {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      senders.map(async (sender, w) => {
        for (;;) {
          const i = next++;
          if (i >= sends) return;
          const reply = await requestBus(
            requester,
            bus.delivery.accept,
            create(DeliveryAcceptRequestSchema, {
              sender,
              clientMessageId: `m${i}`,
              copies: recipients[w]!.map((r) => ({ recipient: r, type: EnvelopeType.MESSAGE, ciphertext })),
            }),
            opts,
          );
          if (reply.result.case !== 'ok') throw new Error('accept failed');
        }
      }),
    );
    const t1 = performance.now();
    const drain = async (device: DeviceAddress) => {
      let n = 0;
      for (;;) {
        const page = await requestBus(
          requester,
          bus.delivery.fetchPage,
          create(DeliveryFetchPageRequestSchema, { device, afterSeq: 0n, limit: 100 }),
          opts,
        );
        if (page.result.case !== 'ok') throw new Error('fetch failed');
        const items = page.result.value.items;
        if (items.length === 0) return n;
        n += items.length;
        await requestBus(
          requester,
          bus.delivery.ack,
          create(DeliveryAckRequestSchema, { device, serverIds: items.map((d) => d.serverId) }),
          opts,
        );
      }
    };
    const delivered = await Promise.all(recipients.flat().map(drain));
    const receipts = await Promise.all(senders.map(drain));
    const t2 = performance.now();
    const copies = sends * recipientsPerSend;
    if (delivered.reduce((a, b) => a + b, 0) !== copies || receipts.reduce((a, b) => a + b, 0) !== copies) {
      throw new Error(`${name}: delivered or receipts count mismatch`);
    }
    const acceptSeconds = (t1 - t0) / 1000;
    const deliverAckSeconds = (t2 - t1) / 1000;
    const row: Row = {
      layer: 'nats',
      scenario: name,
      sends,
      copies,
      concurrency,
      acceptSeconds: round(acceptSeconds),
      deliverAckSeconds: round(deliverAckSeconds),
      acceptCopiesPerSec: Math.round(copies / acceptSeconds),
      deliverAckCopiesPerSec: Math.round(copies / deliverAckSeconds),
      endToEndCopiesPerSec: Math.round(copies / (acceptSeconds + deliverAckSeconds)),
    };
    return row;
  } finally {
    await nc.drain();
    await app.stop();
  }
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  const core = await createDeliveryCore({
    redis,
    keyPrefix: prefix,
    expiryShards: 16,
    settings: {
      copyTtlMs: 30 * 24 * 3600 * 1000,
      maxQueuedCopies: 100_000,
      maxQueuedBytes: 1 << 30,
      maxCopiesPerSend: 32,
      maxCiphertextBytes: 64 * 1024,
      maxClientMessageIdLength: 64,
      maxPageSize: 100,
      maxPageBytes: 512 * 1024,
      maxAckIds: 100,
      maxStaleDevices: 256,
      maxStaleCopiesPerDevice: 16,
      maxStaleAgeMs: 86_400_000,
      outboxLeaseMs: 30_000,
      sweepBatch: 100,
      historyTtlMs: 3600_000,
      historyMaxBytes: 1 << 20,
      historyMaxChunkBytes: 1 << 18,
      historyMaxChunks: 64,
    },
    publisher: { publish: async () => {} },
    clock: systemClock,
    metrics: noMetrics,
  });
  const rows: Row[] = [];
  try {
    await scenario(core.service, 'warm-up', 500, 1, 8, 256);
    rows.push(await scenario(core.service, '1 recipient device, 256 B', 20_000, 1, 32, 256));
    rows.push(await scenario(core.service, '4 recipient devices, 256 B', 5_000, 4, 32, 256));
    rows.push(await scenario(core.service, '1 recipient device, 4 KiB', 10_000, 1, 32, 4096));
    rows.push(await natsScenario('NATS: 1 recipient device, 256 B', 10_000, 1, 32));
    rows.push(await natsScenario('NATS: 4 recipient devices, 256 B', 2_500, 4, 32));
  } finally {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
  console.table(
    rows.map((r) => ({
      layer: r.layer,
      scenario: r.scenario,
      copies: r.copies,
      'accept copies/s': r.acceptCopiesPerSec,
      'deliver+ack copies/s': r.deliverAckCopiesPerSec,
      'end-to-end copies/s': r.endToEndCopiesPerSec,
    })),
  );
  const out = new URL('./results.json', import.meta.url);
  writeFileSync(
    out,
    `${JSON.stringify({ at: new Date().toISOString(), redis: REDIS_URL, cpus: (await import('node:os')).cpus().length, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${out.pathname}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
