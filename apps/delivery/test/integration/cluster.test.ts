import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedis } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { createDeliveryCore, type DeliveryCore } from '../../src/core.js';
import type { DeviceAddress } from '../../src/domain.js';
import { noMetrics } from '../../src/ports.js';
import type { RedisClient } from '../../src/store/lua.js';
import { account, RecordingPublisher, send, testSettings } from '../fixtures.js';
import { type LocalCluster, startLocalCluster } from './local-cluster.js';

// Redis Cluster: every script touches one slot, multi-device work spans nodes. Runs on a
// throw-away 3-node cluster of local redis-server processes (skipped if redis-server is absent).
const TTL = 60_000;
const prefix = 'dc:';
let cluster: LocalCluster | undefined;
const clients: RedisClient[] = [];
const clock = new ManualClock(1_800_000_000_000);

beforeAll(async () => {
  cluster = await startLocalCluster(3);
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

async function instance(): Promise<DeliveryCore> {
  const redis = createRedis({ REDIS_URL: cluster!.seedUrl, REDIS_CLUSTER: true });
  clients.push(redis);
  await redis.connect();
  return createDeliveryCore({
    redis,
    keyPrefix: prefix,
    expiryShards: 8,
    settings: testSettings({ copyTtlMs: TTL }),
    publisher: new RecordingPublisher(),
    clock,
    metrics: noMetrics,
  });
}

async function drainAndAck(d: DeliveryCore, device: DeviceAddress): Promise<number> {
  let n = 0;
  for (;;) {
    const page = await d.service.fetchPage(device, 0, 100);
    if (page.copies.length === 0) return n;
    n += page.copies.length;
    await d.service.ack(
      device,
      page.copies.map((c) => c.serverId),
    );
  }
}

const sweepAll = async (d: DeliveryCore) => {
  let n = 0;
  for (let s = 0; s < d.queues.shardCount; s++) n += await d.service.sweepShard(s);
  return n;
};

const onCluster = process.env.DELIVERY_SKIP_CLUSTER ? it.skip : it;

describe('on Redis Cluster', () => {
  onCluster(
    'accepts across slots and nodes, idempotently, and leaves no key once everything is acknowledged',
    async () => {
      if (!cluster) return;
      const [a, b] = [await instance(), await instance()];
      const [alice] = account(1);
      const bob = account(4);
      for (let i = 0; i < 100; i++) await (i % 2 ? a : b).service.accept(send(alice!, bob, `m${i}`));
      expect(await cluster.nodesWithKeys(`${prefix}*`)).toBeGreaterThan(1);
      const first = await a.service.accept(send(alice!, bob, 'm7'));
      expect(first.copies.every((c) => !c.created)).toBe(true);
      for (const dev of bob) expect(await drainAndAck(b, dev)).toBe(100);
      expect(await drainAndAck(a, alice!)).toBe(400);
      expect(await cluster.keys(`${prefix}*`)).toEqual([]);
    },
  );

  onCluster('expires with two instances sweeping at once: one receipt per copy', async () => {
    if (!cluster) return;
    const [a, b] = [await instance(), await instance()];
    const [alice] = account(1);
    const bobs = Array.from({ length: 6 }, () => account(2)).flat();
    for (let i = 0; i < 5; i++) await a.service.accept(send(alice!, bobs, `e${i}`));
    clock.advance(TTL);
    const counts = await Promise.all([sweepAll(a), sweepAll(b), sweepAll(a)]);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(5 * bobs.length);
    const receipts = await a.service.fetchPage(alice!, 0, 500);
    expect(receipts.copies).toHaveLength(5 * bobs.length);
    expect(
      new Set(receipts.copies.map((r) => (r.meta.kind === 'receipt' ? r.meta.copyServerId : ''))).size,
    ).toBe(5 * bobs.length);
    await drainAndAck(a, alice!);
    expect(await cluster.keys(`${prefix}*`)).toEqual([]);
  });

  onCluster('revokes a device queue and its blobs', async () => {
    if (!cluster) return;
    const d = await instance();
    const devs = account(3);
    await d.service.accept(send(devs[0]!, [devs[1]!, devs[2]!], 'r'));
    const { blobId } = await d.service.putHistoryChunk({
      uploader: devs[0]!,
      recipientDeviceId: 2,
      blobId: '',
      index: 0,
      totalChunks: 1,
      totalSize: 5,
      chunk: new Uint8Array(5),
    });
    expect(await d.service.revokeDevice(devs[1]!)).toBe(1);
    expect(
      (await cluster.keys(`${prefix}*`)).filter(
        (k) => k.includes(`${devs[1]!.accountId}:2`) || k.includes(blobId),
      ),
    ).toEqual([]);
    await drainAndAck(d, devs[2]!);
    await drainAndAck(d, devs[0]!);
    expect(await cluster.keys(`${prefix}*`)).toEqual([]);
  });
});
