import { describe, expect, it } from '@jest/globals';
import {
  create,
  type DeliveryCopy,
  EnvelopeType,
  ErrorCode,
  SendAcceptedSchema,
  SendSchema,
} from '@tandem/proto';
import { BusUnavailableError } from '../../src/bus/bus.js';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import { GatewayError } from '../../src/errors.js';
import { DeviceListCache, type DeviceListSource } from '../../src/services/device-list-cache.js';
import type { DeviceSet } from '../../src/services/device-set.js';
import { SendService } from '../../src/services/send.service.js';

const ALICE = 'aaaaaaaa-0000-4000-8000-000000000000';
const BOB = 'bbbbbbbb-0000-4000-8000-000000000000';
const sender = { accountId: ALICE, deviceId: 1, isPrimary: true };

class Source implements DeviceListSource {
  calls = 0;
  constructor(public lists: Map<string, DeviceSet>) {}
  async getDeviceLists(ids: readonly string[]) {
    this.calls++;
    return new Map([...this.lists].filter(([id]) => ids.includes(id)));
  }
}

class Delivery {
  attempts = 0;
  failures: Error[] = [];
  seen: DeliveryCopy[][] = [];
  accept = async (_s: unknown, _id: string, copies: DeliveryCopy[]) => {
    this.attempts++;
    this.seen.push(copies);
    const f = this.failures.shift();
    if (f) throw f;
    return create(SendAcceptedSchema, {
      copies: copies.map((c, i) => ({
        address: c.recipient,
        serverId: `00000000-0000-4000-8000-00000000000${i}`,
      })),
      serverTimestampMs: 1n,
    });
  };
}

const send = (copies: Array<[string, number, number]>) =>
  create(SendSchema, {
    clientMessageId: 'm1',
    recipientAccountId: BOB,
    copies: copies.map(([accountId, deviceId, registrationId]) => ({
      address: { accountId, deviceId },
      registrationId,
      type: EnvelopeType.MESSAGE,
      ciphertext: new Uint8Array([1, 2, 3]),
    })),
  });

const lists = () =>
  new Map<string, DeviceSet>([
    [ALICE, new Map([[1, 11]])],
    [BOB, new Map([[1, 21]])],
  ]);

describe('SendService', () => {
  it('accepts a send that covers the current devices, with a cached device list after the first send', async () => {
    const source = new Source(lists());
    const delivery = new Delivery();
    const svc = new SendService(new DeviceListCache(source, 10), delivery as unknown as DeliveryClient, {
      acceptTimeoutMs: 100,
    });
    const r1 = await svc.send(sender, send([[BOB, 1, 21]]));
    const r2 = await svc.send(sender, send([[BOB, 1, 21]]));
    expect(r1.result.case).toBe('accepted');
    expect(r2.result.case).toBe('accepted');
    expect(source.calls).toBe(1);
    expect(delivery.seen[0]![0]!.recipient).toEqual(expect.objectContaining({ accountId: BOB, deviceId: 1 }));
  });

  it('refetches once when the cached list disagrees, and answers from the fresh list', async () => {
    const source = new Source(lists());
    const cache = new DeviceListCache(source, 10);
    const svc = new SendService(cache, new Delivery() as unknown as DeliveryClient, { acceptTimeoutMs: 100 });
    source.lists.set(
      BOB,
      new Map([
        [1, 21],
        [2, 22],
      ]),
    );
    await svc.send(
      sender,
      send([
        [BOB, 1, 21],
        [BOB, 2, 22],
      ]),
    );
    // Bob's device 2 was unlinked, but this gateway missed the event: the cache still has it.
    source.lists.set(BOB, new Map([[1, 21]]));
    const ok = await svc.send(sender, send([[BOB, 1, 21]]));
    expect(ok.result.case).toBe('accepted');
    expect(source.calls).toBe(2);
    // A send that is wrong against the fresh list too is answered with the fresh difference.
    const wrong = await svc.send(
      sender,
      send([
        [BOB, 1, 21],
        [BOB, 3, 23],
      ]),
    );
    expect(wrong.result).toEqual({
      case: 'mismatchedDevices',
      value: expect.objectContaining({
        missing: [],
        extra: [expect.objectContaining({ accountId: BOB, deviceId: 3 })],
      }),
    });
    expect(source.calls).toBe(3);
  });

  it('answers stale_devices for a registration id mismatch', async () => {
    const svc = new SendService(
      new DeviceListCache(new Source(lists()), 10),
      new Delivery() as unknown as DeliveryClient,
      {
        acceptTimeoutMs: 100,
      },
    );
    const r = await svc.send(sender, send([[BOB, 1, 99]]));
    expect(r.result.case).toBe('staleDevices');
  });

  it('does not retry a timed-out accept: the device repeats the identical send (one retry policy per hop)', async () => {
    const delivery = new Delivery();
    const svc = new SendService(
      new DeviceListCache(new Source(lists()), 10),
      delivery as unknown as DeliveryClient,
      {
        acceptTimeoutMs: 100,
      },
    );
    delivery.failures = [new BusUnavailableError('x', 'timeout')];
    await expect(svc.send(sender, send([[BOB, 1, 21]]))).rejects.toBeInstanceOf(BusUnavailableError);
    expect(delivery.attempts).toBe(1);
    // The device's repeat, with the same client_message_id, is accepted.
    expect((await svc.send(sender, send([[BOB, 1, 21]]))).result.case).toBe('accepted');
    expect(delivery.attempts).toBe(2);
  });

  it('does not retry a refusal from delivery, and refuses an unknown recipient account', async () => {
    const delivery = new Delivery();
    const svc = new SendService(
      new DeviceListCache(new Source(lists()), 10),
      delivery as unknown as DeliveryClient,
      {
        acceptTimeoutMs: 100,
      },
    );
    delivery.failures = [new GatewayError(ErrorCode.QUEUE_FULL, 'full')];
    await expect(svc.send(sender, send([[BOB, 1, 21]]))).rejects.toMatchObject({
      code: ErrorCode.QUEUE_FULL,
    });
    expect(delivery.attempts).toBe(1);
    const unknown = create(SendSchema, {
      ...send([[BOB, 1, 21]]),
      recipientAccountId: 'cccccccc-0000-4000-8000-000000000000',
    });
    await expect(svc.send(sender, unknown)).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });
});
