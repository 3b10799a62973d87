import { describe, expect, it } from '@jest/globals';
import {
  create,
  type Deliver,
  DeliveryPageSchema,
  DeliveryStaleCopiesSchema,
  encodeBus,
  InboxMessageSchema,
  subjects,
} from '@tandem/proto';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { DeviceSessionService } from '../../src/services/device-session.service.js';
import type { Address } from '../../src/services/device-set.js';
import { StuckCopySweeper } from '../../src/services/stuck-copies.service.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { copy, framesOf, makeConnection, makeOutbound, silentLogger } from '../helpers/unit-kit.js';

const ACCOUNT = 'dddddddd-0000-4000-8000-000000000000';
const catalog = subjects('unit');

/** Delivery with one queue per device: pages by seq, and "stale" = every queued copy. */
class FakeDelivery {
  readonly queues = new Map<number, Deliver[]>();
  readonly staleAsks: number[][] = [];
  async fetchPage(device: Address, afterSeq: bigint) {
    const items = (this.queues.get(device.deviceId) ?? []).filter((c) => c.seq > afterSeq);
    return create(DeliveryPageSchema, { items, more: false });
  }
  onAsk: (() => void) | undefined;
  async staleCopies(devices: readonly Address[]) {
    this.staleAsks.push(devices.map((d) => d.deviceId));
    this.onAsk?.();
    return create(DeliveryStaleCopiesSchema, {
      devices: devices.flatMap((d) => {
        const q = this.queues.get(d.deviceId) ?? [];
        return q.length === 0
          ? []
          : [{ device: d, copies: q.map((c) => ({ serverId: c.serverId, seq: c.seq })) }];
      }),
    });
  }
}

function setup(batchSize = 10) {
  const bus = new FakeBus();
  const { outbound, metrics } = makeOutbound();
  const connections = new ConnectionRegistry();
  const delivery = new FakeDelivery();
  const sessions = new DeviceSessionService(
    bus,
    catalog,
    delivery as unknown as DeliveryClient,
    connections,
    outbound,
    silentLogger,
    {
      drainPageSize: 10,
      drainBufferLowWater: 1 << 20,
      drainStallMs: 1000,
      maxPendingLive: 10,
      forwardedWindow: 20,
    },
  );
  const sweeper = new StuckCopySweeper(
    connections,
    delivery as unknown as DeliveryClient,
    sessions,
    metrics,
    silentLogger,
    { stuckAgeMs: 5000, intervalMs: 0, batchSize },
  );
  const settle = async () => {
    while (sessions.running.size > 0) await Promise.all(sessions.running);
  };
  const connect = async (deviceId: number) => {
    const { conn, socket } = makeConnection();
    connections.add(conn);
    await sessions.attach(conn, { accountId: ACCOUNT, deviceId, isPrimary: false });
    sessions.startDrain(conn);
    await settle();
    return { conn, socket };
  };
  const pushLive = (deviceId: number, c: Deliver) => {
    const inbox = catalog.inbox(ACCOUNT, deviceId);
    bus.publish(
      inbox.subject,
      encodeBus(inbox, create(InboxMessageSchema, { kind: { case: 'deliver', value: c } })),
    );
  };
  const stuckCount = async () => (await metrics.stuckCopies.get()).values[0]?.value ?? 0;
  return { delivery, sweeper, settle, connect, pushLive, stuckCount };
}

const delivered = (frames: ReturnType<typeof framesOf>) =>
  frames.map((f) => (f.body.case === 'deliver' ? Number(f.body.value.seq) : f.body.case));

describe('StuckCopySweeper', () => {
  it('pushes a queued copy whose live push never came (drains the device again) and counts it once', async () => {
    const t = setup();
    t.delivery.queues.set(2, [copy(1)]);
    const { socket } = await t.connect(2);
    t.delivery.queues.get(2)!.push(copy(2), copy(3));
    t.pushLive(2, copy(3)); // the push of 2 was lost
    await t.sweeper.tick();
    await t.settle();
    expect(delivered(framesOf(socket))).toEqual([1, 'queueEmpty', 3, 2, 'queueEmpty']);
    expect(await t.stuckCount()).toBe(1);
    // Copy 1 (drained), 3 (live) and 2 (pushed now) are still queued, unacked: nothing is stuck.
    await t.sweeper.tick();
    await t.settle();
    expect(await t.stuckCount()).toBe(1);
    expect(delivered(framesOf(socket))).toHaveLength(5);
  });

  it('counts nothing and pushes nothing while every queued copy was forwarded', async () => {
    const t = setup();
    t.delivery.queues.set(2, [copy(1), copy(2)]);
    const { socket } = await t.connect(2);
    t.delivery.queues.get(2)!.push(copy(4), copy(3));
    t.pushLive(2, copy(4));
    t.pushLive(2, copy(3)); // out of seq order, but both arrived
    await t.sweeper.tick();
    await t.settle();
    expect(await t.stuckCount()).toBe(0);
    expect(delivered(framesOf(socket))).toEqual([1, 2, 'queueEmpty', 4, 3]);
  });

  it('skips a socket that closed while the check was out', async () => {
    const t = setup();
    t.delivery.queues.set(2, []);
    const { conn } = await t.connect(2);
    t.delivery.queues.get(2)!.push(copy(5)); // never pushed
    t.delivery.onAsk = () => conn.close(1000, 'bye');
    await t.sweeper.tick();
    expect(await t.stuckCount()).toBe(0);
  });

  it('checks connected devices in rotating batches, one request per tick', async () => {
    const t = setup(2);
    for (const id of [2, 3, 4]) await t.connect(id);
    for (let i = 0; i < 3; i++) await t.sweeper.tick();
    expect(t.delivery.staleAsks).toEqual([[2, 3], [4], [2, 3]]);
  });
});
