import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/clock.js';
import type { DeviceAddress, Page, PendingReceipt } from '../../src/domain.js';
import { InvalidArgumentError, PayloadTooLargeError, QueueFullError } from '../../src/errors.js';
import {
  type BlobRepository,
  type CapacityQuery,
  type CapacityResult,
  noMetrics,
  type QueueRepository,
  type RemoveResult,
  type StoreRequest,
  type StoreResult,
} from '../../src/ports.js';
import { DeliveryService } from '../../src/service/delivery-service.js';
import { Sweeper } from '../../src/service/sweeper.js';
import { account, RecordingPublisher, send, testSettings } from '../fixtures.js';

/** A scriptable in-memory QueueRepository that records every call. */
class FakeQueues implements QueueRepository {
  readonly shardCount = 4;
  readonly calls: string[] = [];
  readonly stored: StoreRequest[] = [];
  capacity: (q: CapacityQuery) => CapacityResult = () => 'ok';
  storeResult: (r: StoreRequest, i: number) => StoreResult = (r, i) => ({
    status: 'stored',
    serverId: r.serverId,
    seq: i + 1,
  });
  ackResult: RemoveResult = { removed: 0, nextDueMs: -1, pending: [], unreadable: [] };
  expireResult: RemoveResult = { removed: 0, nextDueMs: -1, pending: [], unreadable: [] };
  outboxDoneResult = -1;
  reconciled: [DeviceAddress, number][] = [];
  locks = new Set<number>();
  failShard: number | undefined;

  async checkCapacity(queries: readonly CapacityQuery[]) {
    this.calls.push('checkCapacity');
    return queries.map((q) => this.capacity(q));
  }
  async store(requests: readonly StoreRequest[]) {
    this.calls.push('store');
    this.stored.push(...requests);
    return requests.map((r, i) => this.storeResult(r, i));
  }
  async readPage(): Promise<Page> {
    this.calls.push('readPage');
    return { copies: [], more: false, cursor: 0 };
  }
  async staleCopies(devices: readonly DeviceAddress[]) {
    this.calls.push('staleCopies');
    return devices.map(() => []);
  }
  async ping() {
    this.calls.push('ping');
  }
  async ack(_d: DeviceAddress, ids: readonly string[]) {
    this.calls.push(`ack:${ids.join(',')}`);
    return this.ackResult;
  }
  async expire() {
    this.calls.push('expire');
    return this.expireResult;
  }
  async outboxDone(_d: DeviceAddress, ids: readonly string[]) {
    this.calls.push(`outboxDone:${ids.join(',')}`);
    return this.outboxDoneResult;
  }
  async reconcileIndex(d: DeviceAddress, due: number) {
    this.reconciled.push([d, due]);
  }
  async dueDevices(shard: number) {
    this.calls.push(`due:${shard}`);
    if (shard === this.failShard) throw new Error('boom');
    return [];
  }
  async lockShard(shard: number) {
    if (this.locks.has(shard)) return false;
    this.locks.add(shard);
    return true;
  }
  async unlockShard(shard: number) {
    this.calls.push(`unlock:${shard}`);
    this.locks.delete(shard);
  }
  async revoke() {
    return 0;
  }
}

const noBlobs = {} as BlobRepository;

function setup(over: Parameters<typeof testSettings>[0] = {}) {
  const queues = new FakeQueues();
  const publisher = new RecordingPublisher();
  const clock = new ManualClock(1_000_000);
  let n = 0;
  const errors: unknown[] = [];
  const service = new DeliveryService({
    queues,
    blobs: noBlobs,
    publisher,
    clock,
    newId: () => `id-${++n}`,
    metrics: noMetrics,
    settings: testSettings({ copyTtlMs: 5000, ...over }),
    onPublishError: (e) => errors.push(e),
  });
  return { queues, publisher, clock, service, errors };
}

describe('DeliveryService.accept', () => {
  it('checks every recipient queue, stores one idempotent copy per device, then publishes each', async () => {
    const { queues, publisher, service } = setup();
    const [alice] = account(1);
    const bob = account(3);
    const result = (await service.accept(send(alice!, bob, 'm1'))).copies;
    expect(queues.calls).toEqual(['checkCapacity', 'store']);
    expect(queues.stored.map((s) => s.idemField)).toEqual(Array(3).fill(`i:${alice!.accountId}:1:m1`));
    expect(queues.stored.every((s) => s.expiresAtMs === 1_005_000)).toBe(true);
    expect(result.map((r) => r.serverId)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(publisher.published.map((p) => p.device)).toEqual(bob);
  });

  it('stores nothing anywhere when one recipient queue is full', async () => {
    const { queues, publisher, service } = setup();
    const [alice] = account(1);
    const bob = account(3);
    queues.capacity = (q) => (q.recipient.deviceId === 2 ? 'bytes' : 'ok');
    const err = await service.accept(send(alice!, bob, 'm1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    expect((err as QueueFullError).devices).toEqual([bob[1]]);
    expect(queues.calls).toEqual(['checkCapacity']);
    expect(publisher.published).toHaveLength(0);
  });

  it('reports QUEUE_FULL when a queue filled between check and store (race), publishing nothing', async () => {
    const { queues, publisher, service } = setup();
    const [alice] = account(1);
    queues.storeResult = (r, i) =>
      i === 1 ? { status: 'full', reason: 'copies' } : { status: 'stored', serverId: r.serverId, seq: 1 };
    await expect(service.accept(send(alice!, account(2), 'm'))).rejects.toBeInstanceOf(QueueFullError);
    expect(publisher.published).toHaveLength(0);
  });

  it.each([
    ['no copies', (i: ReturnType<typeof send>) => ({ ...i, copies: [] })],
    [
      'two copies for one device',
      (i: ReturnType<typeof send>) => ({ ...i, copies: [i.copies[0]!, i.copies[0]!] }),
    ],
    ['an empty client message id', (i: ReturnType<typeof send>) => ({ ...i, clientMessageId: '' })],
    ['a bad account id', (i: ReturnType<typeof send>) => ({ ...i, sender: { accountId: 'X', deviceId: 1 } })],
    [
      'device id 0',
      (i: ReturnType<typeof send>) => ({
        ...i,
        copies: [{ ...i.copies[0]!, recipient: { ...i.copies[0]!.recipient, deviceId: 0 } }],
      }),
    ],
    [
      'an empty ciphertext',
      (i: ReturnType<typeof send>) => ({
        ...i,
        copies: [{ ...i.copies[0]!, ciphertext: new Uint8Array(0) }],
      }),
    ],
  ])('rejects %s with INVALID_ARGUMENT before touching Redis', async (_name, mutate) => {
    const { queues, service } = setup();
    const [alice] = account(1);
    const err = await service.accept(mutate(send(alice!, account(2), 'm'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(queues.calls).toEqual([]);
  });

  it('rejects an oversized ciphertext with PAYLOAD_TOO_LARGE', async () => {
    const { queues, service } = setup({ maxCiphertextBytes: 10 });
    const [alice] = account(1);
    const input = send(alice!, account(1), 'm');
    const big = { ...input, copies: [{ ...input.copies[0]!, ciphertext: new Uint8Array(11) }] };
    await expect(service.accept(big)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(queues.calls).toEqual([]);
  });

  it('still answers when publishing fails: the copies are stored and wait in the queue', async () => {
    const { publisher, service, errors } = setup();
    publisher.publish = async () => {
      throw new Error('nats down');
    };
    const [alice] = account(1);
    expect((await service.accept(send(alice!, account(1), 'm'))).copies).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });
});

describe('DeliveryService.staleCopies', () => {
  it('refuses a device listed twice, out-of-range ages and limits, and asks the store nothing', async () => {
    const { queues, service } = setup();
    const [a, b] = account(2);
    await expect(service.staleCopies([a!, a!], 1000, 4)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.staleCopies([], 1000, 4)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.staleCopies([a!], 0, 4)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.staleCopies([a!], 1000, 17)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(queues.calls).toEqual([]);
    expect(await service.staleCopies([a!, b!], 1000, 4)).toEqual([]);
    expect(queues.calls).toEqual(['staleCopies']);
  });
});

describe('DeliveryService.ack', () => {
  const [alice] = account(1);
  const [bob] = account(1);
  const pending: PendingReceipt = {
    copyServerId: 'c1',
    receipt: 'delivered',
    recipient: bob!,
    original: { kind: 'message', sender: alice!, clientMessageId: 'm1', envelopeType: 2, acceptedAtMs: 1 },
  };

  it('queues one delivered receipt per acknowledged message to the sending device, then clears the outbox', async () => {
    const { queues, publisher, service } = setup();
    queues.ackResult = { removed: 1, nextDueMs: 5, pending: [pending], unreadable: ['junk'] };
    queues.outboxDoneResult = -1;
    await expect(service.ack(bob!, ['c1', 'c1', 'zz'])).resolves.toEqual({ removed: 1 });
    expect(queues.calls).toEqual(['ack:c1,zz', 'store', 'outboxDone:c1,junk']);
    expect(queues.stored[0]).toMatchObject({
      recipient: alice,
      idemField: 'i:r:delivered:c1',
      maxCopies: 0,
      meta: {
        kind: 'receipt',
        receipt: 'delivered',
        clientMessageId: 'm1',
        recipient: bob,
        copyServerId: 'c1',
      },
    });
    expect(publisher.published.map((p) => p.device)).toEqual([alice]);
    // The device became empty: its expiry-index entry is reconciled.
    expect(queues.reconciled).toEqual([[bob, -1]]);
  });

  it('does not touch the expiry index while the device still holds copies', async () => {
    const { queues, service } = setup();
    queues.ackResult = { removed: 1, nextDueMs: 99, pending: [], unreadable: [] };
    await service.ack(bob!, ['c1']);
    expect(queues.reconciled).toEqual([]);
  });

  it('rejects too many ids and an empty list costs nothing', async () => {
    const { queues, service } = setup({ maxAckIds: 2 });
    await expect(service.ack(bob!, ['a', 'b', 'c'])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.ack(bob!, [])).resolves.toEqual({ removed: 0 });
    expect(queues.calls).toEqual([]);
  });
});

describe('DeliveryService.fetchPage', () => {
  it('validates the cursor and the page size', async () => {
    const { queues, service } = setup({ maxPageSize: 10 });
    const [bob] = account(1);
    await expect(service.fetchPage(bob!, -1, 5)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.fetchPage(bob!, 0, 11)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(service.fetchPage(bob!, 0, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(queues.calls).toEqual([]);
    await service.fetchPage(bob!, 0, 10);
    expect(queues.calls).toEqual(['readPage']);
  });
});

describe('Sweeper', () => {
  it('sweeps only the shards it can lock and always releases the lock, even when a sweep fails', async () => {
    const { queues, service } = setup();
    queues.locks.add(2); // held by another instance
    queues.failShard = 1;
    const errors: number[] = [];
    const sweeper = new Sweeper(service, queues, {
      intervalMs: 1000,
      lockTtlMs: 1000,
      token: 't',
      onError: (_e, shard) => errors.push(shard),
    });
    await sweeper.sweepOnce();
    expect(queues.calls.filter((c) => c.startsWith('due:')).sort()).toEqual(['due:0', 'due:1', 'due:3']);
    expect(queues.calls.filter((c) => c.startsWith('unlock:')).sort()).toEqual([
      'unlock:0',
      'unlock:1',
      'unlock:3',
    ]);
    expect(errors).toEqual([1]);
  });

  it('expires a device until a step returns less than a batch, reconciling it each time', async () => {
    const { queues, service } = setup({ sweepBatch: 2 });
    const [bob] = account(1);
    let steps = 0;
    queues.expire = async () => {
      steps++;
      return { removed: steps < 3 ? 2 : 1, nextDueMs: steps < 3 ? 0 : -1, pending: [], unreadable: [] };
    };
    expect(await service.sweepDevice(bob!)).toBe(5);
    expect(queues.reconciled.map(([, due]) => due)).toEqual([0, 0, -1]);
  });
});
