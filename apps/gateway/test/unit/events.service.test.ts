import { describe, expect, it } from '@jest/globals';
import {
  create,
  DeliveryPageSchema,
  DeviceListChangedEventSchema,
  DeviceRevokedEventSchema,
  encodeBus,
  PrekeysLowEventSchema,
  subjects,
} from '@tandem/proto';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { DeviceListCache } from '../../src/services/device-list-cache.js';
import { DeviceSessionService } from '../../src/services/device-session.service.js';
import { EventsService } from '../../src/services/events.service.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { copy, framesOf, makeConnection, makeOutbound, silentLogger } from '../helpers/unit-kit.js';

const ACCOUNT = 'dddddddd-0000-4000-8000-000000000000';
const catalog = subjects('unit');

async function setup() {
  const bus = new FakeBus();
  const { outbound } = makeOutbound();
  const connections = new ConnectionRegistry();
  const fetches: bigint[] = [];
  const queued = [copy(1), copy(2)];
  const delivery = {
    fetchPage: async (_d: unknown, after: bigint) => {
      fetches.push(after);
      return create(DeliveryPageSchema, { items: queued.filter((c) => c.seq > after), more: false });
    },
  } as unknown as DeliveryClient;
  const sessions = new DeviceSessionService(bus, catalog, delivery, connections, outbound, silentLogger, {
    drainPageSize: 10,
    drainBufferLowWater: 1 << 20,
    drainStallMs: 100,
    maxPendingLive: 10,
    forwardedWindow: 20,
  });
  const listCalls: string[][] = [];
  const lists = new DeviceListCache(
    {
      getDeviceLists: async (ids) => {
        listCalls.push([...ids]);
        return new Map(ids.map((id) => [id, new Map([[1, 1]])]));
      },
    },
    10,
  );
  const status = { active: true };
  const registry = {
    getDevice: async () => ({
      identityKey: new Uint8Array(32),
      registrationId: 1,
      isPrimary: true,
      ...status,
    }),
  };
  const events = new EventsService(
    bus,
    catalog,
    connections,
    lists,
    sessions,
    outbound,
    registry,
    silentLogger,
  );
  await events.start();
  const device = async (deviceId: number) => {
    const c = makeConnection();
    connections.add(c.conn);
    await sessions.attach(c.conn, { accountId: ACCOUNT, deviceId, isPrimary: deviceId === 1 });
    sessions.startDrain(c.conn);
    while (sessions.running.size > 0) await Promise.all(sessions.running);
    return c;
  };
  return { bus, events, lists, listCalls, device, fetches, queued, status, sessions };
}

describe('EventsService', () => {
  it('pushes devices_changed to every connected device of the account and drops its cached list', async () => {
    const { bus, lists, listCalls, device } = await setup();
    const a = await device(1);
    const b = await device(2);
    await lists.get([ACCOUNT]);
    const e = catalog.events.deviceListChanged;
    bus.publish(e.subject, encodeBus(e, create(DeviceListChangedEventSchema, { accountId: ACCOUNT })));
    for (const c of [a, b]) expect(framesOf(c.socket).at(-1)?.body.case).toBe('devicesChanged');
    await lists.get([ACCOUNT]);
    expect(listCalls).toHaveLength(2);
  });

  it('closes a revoked device’s socket with 4003, and pushes prekeys_low to the device', async () => {
    const { bus, device } = await setup();
    const a = await device(1);
    const b = await device(2);
    const low = catalog.events.prekeysLow;
    bus.publish(
      low.subject,
      encodeBus(
        low,
        create(PrekeysLowEventSchema, {
          device: { accountId: ACCOUNT, deviceId: 1 },
          counts: { oneTime: 3 },
        }),
      ),
    );
    expect(framesOf(a.socket).at(-1)?.body.case).toBe('prekeysLow');
    const revoked = catalog.events.deviceRevoked;
    bus.publish(
      revoked.subject,
      encodeBus(
        revoked,
        create(DeviceRevokedEventSchema, { device: { accountId: ACCOUNT, deviceId: 2 }, reason: 1 }),
      ),
    );
    expect(b.socket.closed?.code).toBe(4003);
    expect(a.socket.closed).toBeUndefined();
  });

  it('drops malformed events without failing', async () => {
    const { bus, device } = await setup();
    const a = await device(1);
    expect(() =>
      bus.publish(catalog.events.deviceRevoked.subject, new Uint8Array([0xff, 0x00])),
    ).not.toThrow();
    expect(a.socket.closed).toBeUndefined();
  });

  it('after a NATS reconnect: clears the cache, drains queues again from the last seq, closes devices revoked meanwhile', async () => {
    const { bus, lists, listCalls, device, fetches, queued, status, sessions } = await setup();
    const a = await device(1);
    await lists.get([ACCOUNT]);
    expect(fetches).toEqual([0n]);
    queued.push(copy(3)); // queued while NATS was away: its live push was missed
    bus.reconnect();
    while (sessions.running.size > 0) await Promise.all(sessions.running);
    expect(fetches).toEqual([0n, 2n]);
    const seqs = framesOf(a.socket).flatMap((f) =>
      f.body.case === 'deliver' ? [Number(f.body.value.seq)] : [],
    );
    expect(seqs).toEqual([1, 2, 3]);
    await lists.get([ACCOUNT]);
    expect(listCalls).toHaveLength(2);
    status.active = false;
    bus.reconnect();
    await new Promise((r) => setTimeout(r, 10));
    expect(a.socket.closed?.code).toBe(4003);
  });
});
