import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type BusRequester,
  create,
  DeliveryAcceptRequestSchema,
  DeliveryAckRequestSchema,
  DeliveryFetchPageRequestSchema,
  DeliveryHistoryFetchChunkRequestSchema,
  DeliveryHistoryUploadChunkRequestSchema,
  DeliveryPingRequestSchema,
  DeliveryStaleCopiesRequestSchema,
  DeviceRevokedEventSchema,
  decodeBus,
  decodeReply,
  EnvelopeType,
  ErrorCode,
  encodeBus,
  type InboxMessage,
  ReceiptKind,
  RevokeReason,
  requestBus,
  type SubjectCatalog,
  subjects,
} from '@tandem/proto';
import { createTestNats, createTestRedis, type TestNats, type TestRedis, waitFor } from '@tandem/testkit';
import { type DeliveryApp, loadDeliveryConfig, startDelivery } from '../../src/app.js';
import type { DeviceAddress } from '../../src/domain.js';
import { account } from '../fixtures.js';

let redis: TestRedis;
let nats: TestNats;
let app: DeliveryApp;
let bus: SubjectCatalog;
let requester: BusRequester;

beforeAll(async () => {
  redis = await createTestRedis();
  nats = await createTestNats();
  app = await startDelivery(
    loadDeliveryConfig({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: nats.prefix,
      OPS_PORT: '0',
      OPS_HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      SWEEPER_ENABLED: 'false',
      QUEUE_MAX_COPIES: '3',
    }),
  );
  bus = subjects(nats.prefix);
  requester = {
    request: (subject, payload, o) =>
      nats.nc.request(subject, payload, { timeout: o.timeoutMs }).then((m) => m.data),
  };
});
afterAll(async () => {
  await app.stop();
  await nats.close();
  await redis.cleanup();
});

const call = { timeoutMs: 5000 };

/** Collects the InboxMessages published to one device's inbox subject. */
function inbox(device: DeviceAddress): { messages: InboxMessage[]; stop(): void } {
  const subject = bus.inbox(device.accountId, device.deviceId);
  const messages: InboxMessage[] = [];
  const sub = nats.nc.subscribe(subject.subject, {
    callback: (_e, m) => {
      messages.push(decodeBus(subject, m.data));
    },
  });
  return { messages, stop: () => sub.unsubscribe() };
}

function acceptRequest(sender: DeviceAddress, recipients: DeviceAddress[], clientMessageId: string) {
  return create(DeliveryAcceptRequestSchema, {
    sender,
    clientMessageId,
    copies: recipients.map((r) => ({
      recipient: r,
      type: EnvelopeType.MESSAGE,
      ciphertext: new TextEncoder().encode(`${clientMessageId}/${r.deviceId}`),
    })),
  });
}

describe('delivery over NATS', () => {
  it('lists, over delivery.stale_copies, the copies queued at least min_age_ms ago of many devices at once', async () => {
    const [alice] = account(1);
    const bob = account(2);
    const carol = account(1);
    const reply = await requestBus(requester, bus.delivery.accept, acceptRequest(alice!, bob, 'old'), call);
    if (reply.result.case !== 'ok') throw new Error('accept failed');
    const ids = reply.result.value.copies.map((c) => c.serverId);
    await new Promise((r) => setTimeout(r, 20));
    const ask = (minAgeMs: number) =>
      requestBus(
        requester,
        bus.delivery.staleCopies,
        create(DeliveryStaleCopiesRequestSchema, { devices: [...bob, carol[0]!], minAgeMs, limit: 4 }),
        call,
      );
    const old = await ask(10);
    if (old.result.case !== 'ok') throw new Error(`stale_copies failed: ${old.result.value?.message}`);
    // carol holds nothing: left out; each of bob's devices lists its copy with the seq it was stored at.
    expect(
      old.result.value.devices.map((d) => [d.device?.deviceId, d.copies.map((c) => c.serverId)]),
    ).toEqual([
      [1, [ids[0]]],
      [2, [ids[1]]],
    ]);
    expect(old.result.value.devices.every((d) => d.copies.every((c) => c.seq > 0n))).toBe(true);
    // Nothing is a minute old yet.
    const young = await ask(60_000);
    expect(young.result.case === 'ok' && young.result.value.devices).toEqual([]);
  });

  it('answers delivery.ping while its Redis answers', async () => {
    const pong = await requestBus(requester, bus.delivery.ping, create(DeliveryPingRequestSchema), call);
    expect(pong.result.case).toBe('ok');
  });

  it('accepts, pushes to the inbox, pages, acks, and pushes a delivered receipt to the sender', async () => {
    const [alice] = account(1);
    const bob = account(2);
    const bobInbox = inbox(bob[1]!);
    const aliceInbox = inbox(alice!);
    await nats.nc.flush();

    const reply = await requestBus(requester, bus.delivery.accept, acceptRequest(alice!, bob, 'hello'), call);
    if (reply.result.case !== 'ok') throw new Error(`accept failed: ${reply.result.value?.message}`);
    const ids = reply.result.value.copies.map((c) => c.serverId);
    expect(reply.result.value.copies.map((c) => c.address?.deviceId)).toEqual([1, 2]);

    const pushed = await waitFor(() => bobInbox.messages[0], { what: 'inbox push' });
    expect(pushed.kind.case).toBe('deliver');
    const deliver = pushed.kind.case === 'deliver' ? pushed.kind.value : undefined;
    expect(deliver?.serverId).toBe(ids[1]);
    expect(deliver?.sender?.accountId).toBe(alice!.accountId);
    expect(
      deliver?.content.case === 'envelope' && new TextDecoder().decode(deliver.content.value.ciphertext),
    ).toBe('hello/2');

    const page = await requestBus(
      requester,
      bus.delivery.fetchPage,
      create(DeliveryFetchPageRequestSchema, { device: bob[1]!, afterSeq: 0n, limit: 10 }),
      call,
    );
    if (page.result.case !== 'ok') throw new Error('fetch failed');
    expect(page.result.value.items.map((i) => i.serverId)).toEqual([ids[1]]);
    expect(page.result.value.more).toBe(false);

    const acked = await requestBus(
      requester,
      bus.delivery.ack,
      create(DeliveryAckRequestSchema, { device: bob[1]!, serverIds: [ids[1]!, ids[0]!] }),
      call,
    );
    // Only bob's device 2 copy is its own; device 1's id is not touched.
    expect(acked.result.case === 'ok' && acked.result.value.removed).toBe(1);

    const receipt = await waitFor(() => aliceInbox.messages[0], { what: 'receipt push' });
    const r = receipt.kind.case === 'deliver' ? receipt.kind.value.content : undefined;
    expect(r?.case).toBe('receipt');
    if (r?.case === 'receipt') {
      expect(r.value.kind).toBe(ReceiptKind.DELIVERED);
      expect(r.value.clientMessageId).toBe('hello');
      expect(r.value.recipient?.deviceId).toBe(2);
    }
    bobInbox.stop();
    aliceInbox.stop();
  });

  it('answers invalid input with BAD_FRAME / INVALID_ARGUMENT and writes nothing', async () => {
    const before = await redis.keys();
    const garbage = await nats.nc.request(bus.delivery.accept.subject, new Uint8Array([0xff, 0xff, 0xff]), {
      timeout: 5000,
    });
    const decoded = decodeReply(bus.delivery.accept, garbage.data);
    expect(decoded.result.case === 'error' && decoded.result.value.code).toBe(ErrorCode.BAD_FRAME);

    // A well-formed protobuf whose sender account id is not a UUID (hand-encoded, since proto's
    // encoder refuses it): DeliveryAcceptRequest{sender{account_id:'not-a-uuid', device_id:1}, client_message_id:'x'}.
    const wire = new Uint8Array([
      0x0a,
      14,
      0x0a,
      10,
      ...new TextEncoder().encode('not-a-uuid'),
      0x10,
      1,
      0x12,
      1,
      0x78,
    ]);
    const raw = await nats.nc.request(bus.delivery.accept.subject, wire, { timeout: 5000 });
    const rejected = decodeReply(bus.delivery.accept, raw.data);
    expect(rejected.result.case).toBe('error');
    expect(rejected.result.case === 'error' && rejected.result.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await redis.keys()).sort()).toEqual(before.sort());
  });

  it('maps a full queue to QUEUE_FULL', async () => {
    const [alice] = account(1);
    const [bob] = account(1);
    for (const id of ['a', 'b', 'c']) {
      const ok = await requestBus(requester, bus.delivery.accept, acceptRequest(alice!, [bob!], id), call);
      expect(ok.result.case).toBe('ok');
    }
    const full = await requestBus(requester, bus.delivery.accept, acceptRequest(alice!, [bob!], 'd'), call);
    expect(full.result.case === 'error' && full.result.value.code).toBe(ErrorCode.QUEUE_FULL);
  });

  it('uploads and fetches a history blob; another device and a fetched blob get BLOB_NOT_FOUND', async () => {
    const devs = account(3);
    const data = new Uint8Array(100).fill(9);
    const up = await requestBus(
      requester,
      bus.delivery.historyUploadChunk,
      create(DeliveryHistoryUploadChunkRequestSchema, {
        uploader: devs[0]!,
        request: { blobId: '', recipientDeviceId: 2, chunkIndex: 0, totalChunks: 1, totalSize: 100n, data },
      }),
      call,
    );
    if (up.result.case !== 'ok') throw new Error(`upload failed: ${up.result.value?.message}`);
    const blobId = up.result.value.blobId;
    expect(up.result.value.receivedChunks).toBe(1);
    const fetch = (requesterDevice: DeviceAddress, id: string) =>
      requestBus(
        requester,
        bus.delivery.historyFetchChunk,
        create(DeliveryHistoryFetchChunkRequestSchema, {
          requester: requesterDevice,
          request: { blobId: id, chunkIndex: 0 },
        }),
        call,
      );
    const other = await fetch(devs[2]!, blobId);
    expect(other.result.case === 'error' && other.result.value.code).toBe(ErrorCode.BLOB_NOT_FOUND);
    const got = await fetch(devs[1]!, blobId);
    expect(got.result.case === 'ok' && got.result.value.data).toEqual(data);
    const again = await fetch(devs[1]!, blobId);
    expect(again.result.case === 'error' && again.result.value.code).toBe(ErrorCode.BLOB_NOT_FOUND);
  });

  it('removes a revoked device queue when the registry publishes device_revoked', async () => {
    const [alice] = account(1);
    const bob = account(2);
    for (const id of ['r1', 'r2']) {
      const ok = await requestBus(requester, bus.delivery.accept, acceptRequest(alice!, bob, id), call);
      expect(ok.result.case).toBe('ok');
    }
    const tag = `{q:${bob[1]!.accountId}:2}`;
    expect((await redis.keys()).some((k) => k.includes(tag))).toBe(true);
    const revoked = bus.events.deviceRevoked;
    nats.nc.publish(
      revoked.subject,
      encodeBus(
        revoked,
        create(DeviceRevokedEventSchema, { device: bob[1]!, reason: RevokeReason.UNLINKED_BY_PRIMARY }),
      ),
    );
    await waitFor(async () => !(await redis.keys()).some((k) => k.includes(tag)), { what: 'queue removed' });
    // The other device of the account keeps its queue.
    expect((await redis.keys()).some((k) => k.includes(`{q:${bob[0]!.accountId}:1}`))).toBe(true);
  });

  it('exposes the copy counters and the queue latency histogram on /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
    const value = (name: string) => Number(text.match(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm'))?.[1]);
    expect(value('delivery_copies_accepted_total')).toBeGreaterThan(0);
    expect(value('delivery_copies_acked_total')).toBe(1);
    expect(value('delivery_receipts_queued_total')).toBe(1);
    expect(text).toMatch(/delivery_queue_op_duration_seconds_count\{[^}]*op="accept"/);
  });
});
