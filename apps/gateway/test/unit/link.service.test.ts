import { describe, expect, it } from '@jest/globals';
import {
  create,
  ErrorCode,
  encodeBus,
  LinkCodeSchema,
  LinkCompleteSchema,
  LinkRelaySchema,
  LinkStartSchema,
  subjects,
} from '@tandem/proto';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import type { RegistryClient } from '../../src/bus/registry.client.js';
import { ManualClock } from '../../src/clock.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { DeviceSessionService } from '../../src/services/device-session.service.js';
import { LinkService } from '../../src/services/link.service.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { framesOf, makeConnection, makeOutbound, silentLogger } from '../helpers/unit-kit.js';

const LINK = '11111111-0000-4000-8000-000000000000';
const catalog = subjects('unit');

function setup() {
  const bus = new FakeBus();
  const clock = new ManualClock();
  const { outbound } = makeOutbound();
  const calls: string[] = [];
  const registry = {
    linkCreate: async () => {
      calls.push('create');
      return create(LinkCodeSchema, { linkId: LINK, expiresAtMs: BigInt(clock.now() + 60_000) });
    },
    linkComplete: async () => {
      calls.push('complete');
      throw new Error('not expected');
    },
    linkCancel: async (_r: unknown, req: { linkId: string }) => {
      calls.push(`cancel ${req.linkId}`);
      return { $typeName: 'tandem.v1.LinkCancelled', linkId: req.linkId, reason: 2 };
    },
  } as unknown as RegistryClient;
  const sessions = new DeviceSessionService(
    bus,
    catalog,
    {} as DeliveryClient,
    new ConnectionRegistry(),
    outbound,
    silentLogger,
    { drainPageSize: 1, drainBufferLowWater: 1, drainStallMs: 1, maxPendingLive: 1, forwardedWindow: 2 },
  );
  const link = new LinkService(registry, bus, catalog, outbound, sessions, clock, silentLogger);
  return { bus, link, calls };
}

const start = create(LinkStartSchema, {
  identityKey: new Uint8Array(32).fill(1),
  ephemeralKey: new Uint8Array(32).fill(2),
  registrationId: 5,
  name: 'laptop',
});

describe('LinkService', () => {
  it('subscribes the link subject (flushed) before answering, and relays payload and cancel', async () => {
    const { bus, link } = setup();
    const { conn, socket } = makeConnection();
    const code = await link.start(conn, start);
    expect(code.linkId).toBe(LINK);
    const subject = catalog.link(LINK);
    expect(bus.subscriberCount(subject.subject)).toBe(1);
    expect(bus.flushes).toBe(1);
    expect(conn.state).toEqual({ kind: 'linking', linkId: LINK, completing: false });
    bus.publish(
      subject.subject,
      encodeBus(
        subject,
        create(LinkRelaySchema, {
          kind: {
            case: 'payload',
            value: {
              linkId: LINK,
              accountId: '22222222-0000-4000-8000-000000000000',
              deviceId: 2,
              sealedPayload: new Uint8Array(8),
            },
          },
        }),
      ),
    );
    expect(framesOf(socket).at(-1)?.body.case).toBe('linkPayload');
    bus.publish(
      subject.subject,
      encodeBus(
        subject,
        create(LinkRelaySchema, { kind: { case: 'cancelled', value: { linkId: LINK, reason: 3 } } }),
      ),
    );
    expect(framesOf(socket).at(-1)?.body.case).toBe('linkCancelled');
    expect(socket.closed?.code).toBe(1000);
    expect(bus.subscriberCount(subject.subject)).toBe(0);
  });

  it('refuses link_complete for another link id without asking the registry', async () => {
    const { link, calls } = setup();
    const { conn } = makeConnection();
    await link.start(conn, start);
    const other = create(LinkCompleteSchema, { linkId: '33333333-0000-4000-8000-000000000000' });
    await expect(link.complete(conn, other)).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect(calls).toEqual(['create']);
    conn.close(1000, 'done');
  });

  it('cancels the session when the waiting companion goes away, but not after it cancelled itself', async () => {
    const gone = setup();
    const a = makeConnection();
    await gone.link.start(a.conn, start);
    a.conn.release(1001);
    await new Promise((r) => setImmediate(r));
    expect(gone.calls).toEqual(['create', `cancel ${LINK}`]);

    const cancelled = setup();
    const b = makeConnection();
    await cancelled.link.start(b.conn, start);
    const r = await cancelled.link.cancel(b.conn, { $typeName: 'tandem.v1.LinkCancel', linkId: LINK });
    expect(r.closeAfter).toBe(true);
    b.conn.close(1000, 'cancelled');
    await new Promise((r2) => setImmediate(r2));
    expect(cancelled.calls).toEqual(['create', `cancel ${LINK}`]);
  });
});
