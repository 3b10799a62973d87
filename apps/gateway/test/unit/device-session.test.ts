import { describe, expect, it } from '@jest/globals';
import {
  create,
  type Deliver,
  DeliveryPageSchema,
  encodeBus,
  InboxMessageSchema,
  subjects,
} from '@tandem/proto';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { DeviceSessionService } from '../../src/services/device-session.service.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { copy, framesOf, makeConnection, makeOutbound, silentLogger } from '../helpers/unit-kit.js';

const ACCOUNT = 'bbbbbbbb-0000-4000-8000-000000000000';
const device = { accountId: ACCOUNT, deviceId: 2, isPrimary: false };
const catalog = subjects('unit');
const inbox = catalog.inbox(ACCOUNT, 2);

/** A queue in delivery's shape: pages of `pageSize` after a seq; `onFetch` runs before each answer. */
class Queue {
  fetches: bigint[] = [];
  onFetch: ((n: number) => void) | undefined;
  afterFetch: ((n: number) => void) | undefined;
  constructor(
    public items: Deliver[],
    private readonly pageSize: number,
  ) {}
  fetchPage = async (_d: unknown, afterSeq: bigint) => {
    this.fetches.push(afterSeq);
    this.onFetch?.(this.fetches.length);
    const rest = this.items.filter((c) => c.seq > afterSeq).sort((a, b) => Number(a.seq - b.seq));
    const page = create(DeliveryPageSchema, {
      items: rest.slice(0, this.pageSize),
      more: rest.length > this.pageSize,
    });
    this.afterFetch?.(this.fetches.length);
    return page;
  };
}

function setup(queue: Queue, policy: { maxPendingLive?: number; forwardedWindow?: number } = {}) {
  const bus = new FakeBus();
  const { outbound } = makeOutbound();
  const connections = new ConnectionRegistry();
  const svc = new DeviceSessionService(
    bus,
    catalog,
    queue as unknown as DeliveryClient,
    connections,
    outbound,
    silentLogger,
    {
      drainPageSize: 2,
      drainBufferLowWater: 1 << 20,
      drainStallMs: 1000,
      maxPendingLive: 2,
      forwardedWindow: 4,
      ...policy,
    },
  );
  return { bus, svc, connections };
}

const pushLive = (bus: FakeBus, c: Deliver) =>
  bus.publish(
    inbox.subject,
    encodeBus(inbox, create(InboxMessageSchema, { kind: { case: 'deliver', value: c } })),
  );

const settle = async (svc: DeviceSessionService) => {
  while (svc.running.size > 0) await Promise.all(svc.running);
};

describe('DeviceSessionService', () => {
  it('subscribes the inbox before publishing displace and before the drain, then drains in order and ends with queue_empty', async () => {
    const queue = new Queue([copy(1), copy(2), copy(3), copy(4), copy(5)], 2);
    const { bus, svc } = setup(queue);
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    expect(bus.subscriberCount(inbox.subject)).toBe(1);
    expect(bus.flushes).toBe(1);
    expect(bus.published.map((p) => p.subject)).toEqual([inbox.subject]);
    svc.startDrain(conn);
    await settle(svc);
    const frames = framesOf(socket);
    expect(frames.map((f) => (f.body.case === 'deliver' ? Number(f.body.value.seq) : f.body.case))).toEqual([
      1,
      2,
      3,
      4,
      5,
      'queueEmpty',
    ]);
    expect(queue.fetches).toEqual([0n, 2n, 4n]);
  });

  it('holds live copies during the drain and forwards only those not already drained', async () => {
    const queue = new Queue([copy(1), copy(2), copy(3)], 2);
    const { bus, svc } = setup(queue);
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    queue.onFetch = (n) => {
      if (n === 1) pushLive(bus, copy(2)); // already queued: will be drained, must not be forwarded twice
      if (n === 2) {
        queue.items.push(copy(4));
        pushLive(bus, copy(4)); // stored after the drain started: drained on the second page
        queue.items.push(copy(5));
      }
    };
    svc.startDrain(conn);
    await settle(svc);
    pushLive(bus, copy(6)); // live after the drain
    pushLive(bus, copy(3)); // a stray duplicate of a drained copy
    const seqs = framesOf(socket).map((f) =>
      f.body.case === 'deliver' ? Number(f.body.value.seq) : f.body.case,
    );
    expect(seqs).toEqual([1, 2, 3, 4, 5, 'queueEmpty', 6]);
  });

  it('makes another pass when live copies overflow the hold buffer during the drain', async () => {
    const queue = new Queue([copy(1)], 10);
    const { bus, svc } = setup(queue);
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    queue.afterFetch = (n) => {
      if (n !== 1) return;
      for (const s of [2, 3, 4]) {
        queue.items.push(copy(s));
        pushLive(bus, copy(s)); // 3 > maxPendingLive (2): overflow
      }
    };
    svc.startDrain(conn);
    await settle(svc);
    const seqs = framesOf(socket).map((f) =>
      f.body.case === 'deliver' ? Number(f.body.value.seq) : f.body.case,
    );
    expect(seqs).toEqual([1, 2, 3, 4, 'queueEmpty']);
    expect(queue.fetches).toEqual([0n, 1n]);
  });

  const delivered = (frames: ReturnType<typeof framesOf>) =>
    frames.map((f) => (f.body.case === 'deliver' ? Number(f.body.value.seq) : f.body.case));

  it('forwards a live copy whose seq is lower than one already forwarded (out-of-order arrival)', async () => {
    const { bus, svc } = setup(new Queue([], 2));
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    svc.startDrain(conn);
    await settle(svc);
    pushLive(bus, copy(7));
    pushLive(bus, copy(5)); // stored before 7, published after it (another delivery instance)
    pushLive(bus, copy(6));
    expect(delivered(framesOf(socket))).toEqual(['queueEmpty', 7, 5, 6]);
  });

  it('does not forward a server id twice, whatever seq the duplicate carries', async () => {
    const { bus, svc } = setup(new Queue([], 2));
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    svc.startDrain(conn);
    await settle(svc);
    pushLive(bus, copy(5));
    pushLive(bus, copy(5)); // published twice
    pushLive(bus, copy(9, copy(5).serverId)); // same copy, other seq: still a duplicate
    pushLive(bus, copy(8));
    expect(delivered(framesOf(socket))).toEqual(['queueEmpty', 5, 8]);
  });

  it('forwards each copy once when drained pages and held live copies interleave in seq', async () => {
    // The drain's pages return 1, 3, 5, 7; live copies 2, 3, 4, 7 and 6 arrive during the drain
    // (2, 4 and 6 reach the queue through another delivery instance after the pages were read).
    const queue = new Queue([copy(1), copy(3), copy(5), copy(7)], 2);
    const { bus, svc } = setup(queue, { maxPendingLive: 8, forwardedWindow: 16 });
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    queue.onFetch = (n) => {
      if (n === 1) {
        pushLive(bus, copy(4));
        pushLive(bus, copy(3));
      }
      if (n === 2) {
        pushLive(bus, copy(7)); // both drained and held: once
        pushLive(bus, copy(2)); // lower seq than drained copies, never drained: forwarded after
      }
    };
    svc.startDrain(conn);
    await settle(svc);
    pushLive(bus, copy(6)); // live after the drain, lower seq than the drained 7
    pushLive(bus, copy(4)); // a stray duplicate of a held copy
    expect(delivered(framesOf(socket))).toEqual([1, 3, 5, 7, 2, 4, 'queueEmpty', 6]);
    expect(conn.drainedThrough).toBe(7n);
  });

  it('keeps a socket that forwarded nothing free of a forwarded-id window, and bounds it after', async () => {
    const { bus, svc } = setup(new Queue([], 2));
    const { conn } = makeConnection();
    await svc.attach(conn, device);
    svc.startDrain(conn);
    await settle(svc);
    expect(conn.forwarded).toBeUndefined();
    for (let s = 1; s <= 10; s++) pushLive(bus, copy(s));
    expect(conn.forwarded?.size).toBe(4); // forwardedWindow
    expect(conn.forwarded?.has(copy(10).serverId)).toBe(true);
    expect(conn.forwarded?.has(copy(6).serverId)).toBe(false);
  });

  it('redrains from the drain cursor, not from the highest live seq, and skips ids already forwarded', async () => {
    const queue = new Queue([copy(1)], 2);
    const { bus, svc } = setup(queue);
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    svc.startDrain(conn);
    await settle(svc);
    queue.items.push(copy(2), copy(3));
    pushLive(bus, copy(3)); // the push of 2 was lost
    svc.redrain(conn);
    await settle(svc);
    expect(queue.fetches).toEqual([0n, 1n]);
    expect(delivered(framesOf(socket))).toEqual([1, 'queueEmpty', 3, 2, 'queueEmpty']);
  });

  it('closes the socket with 4409 on a displace from another connection, not on its own', async () => {
    const { bus, svc } = setup(new Queue([], 2));
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    expect(socket.closed).toBeUndefined();
    bus.publish(
      inbox.subject,
      encodeBus(
        inbox,
        create(InboxMessageSchema, { kind: { case: 'displace', value: { connectionId: 'other' } } }),
      ),
    );
    expect(socket.closed?.code).toBe(4409);
    expect(bus.subscriberCount(inbox.subject)).toBe(0);
  });

  it('closes a displaced local connection of the same device at once', async () => {
    const { svc, connections } = setup(new Queue([], 2));
    const first = makeConnection();
    const second = makeConnection();
    connections.add(first.conn);
    connections.add(second.conn);
    await svc.attach(first.conn, device);
    await svc.attach(second.conn, device);
    expect(first.socket.closed?.code).toBe(4409);
    expect(second.socket.closed).toBeUndefined();
    expect(connections.getDevice(ACCOUNT, 2)).toBe(second.conn);
  });

  it('closes with 4003 on a revoked inbox message', async () => {
    const { bus, svc } = setup(new Queue([], 2));
    const { conn, socket } = makeConnection();
    await svc.attach(conn, device);
    bus.publish(
      inbox.subject,
      encodeBus(inbox, create(InboxMessageSchema, { kind: { case: 'revoked', value: { reason: 1 } } })),
    );
    expect(socket.closed?.code).toBe(4003);
    const last = framesOf(socket).at(-1);
    expect(last?.body.case).toBe('error');
  });
});
