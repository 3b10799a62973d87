import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeReply } from '@tandem/proto';
import { ManualClock } from '../../src/app.js';
import { pb } from '../helpers/raw-proto.js';
import {
  ErrorCode,
  fails,
  type Harness,
  linkCompanion,
  listEntries,
  ok,
  registerAccount,
  startHarness,
  stateOf,
} from '../helpers/registry.js';

describe('device reads and touch over NATS', () => {
  let h: Harness;
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    h = await startHarness({}, { clock });
  });
  afterAll(async () => {
    await h.close();
  });

  const lastSeen = async (accountId: string, deviceId: number) =>
    (
      await h.app.prisma.device.findUniqueOrThrow({ where: { accountId_deviceId: { accountId, deviceId } } })
    ).lastSeenAt.getTime();

  it('touches a batch of devices in one request: active ones move forward, revoked and unknown ones do not', async () => {
    const s = stateOf(await registerAccount(h));
    const c2 = await linkCompanion(h, s);
    const c3 = await linkCompanion(h, s);
    s.devices.delete(c3.deviceId);
    s.listIndex += 1;
    await ok(h, h.catalog.registry.unlink, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: {
        deviceId: c3.deviceId,
        signedList: s.primary.signList(s.accountId, s.listIndex, listEntries(s)),
      },
    });
    const before = await lastSeen(s.accountId, c3.deviceId);
    clock.advance(60_000);
    const seenAt = clock.now().getTime();
    await ok(h, h.catalog.registry.touch, {
      devices: [
        { accountId: s.accountId, deviceId: 1 },
        { accountId: s.accountId, deviceId: c2.deviceId },
        { accountId: s.accountId, deviceId: c3.deviceId },
        { accountId: s.accountId, deviceId: 42 },
      ],
      seenAtMs: BigInt(seenAt),
    });
    expect(await lastSeen(s.accountId, 1)).toBe(seenAt);
    expect(await lastSeen(s.accountId, c2.deviceId)).toBe(seenAt);
    expect(await lastSeen(s.accountId, c3.deviceId)).toBe(before);
    // Never backwards, and a future time from a skewed clock is clamped to now.
    await ok(h, h.catalog.registry.touch, {
      devices: [{ accountId: s.accountId, deviceId: 1 }],
      seenAtMs: BigInt(seenAt - 30_000),
    });
    expect(await lastSeen(s.accountId, 1)).toBe(seenAt);
    await ok(h, h.catalog.registry.touch, {
      devices: [{ accountId: s.accountId, deviceId: 1 }],
      seenAtMs: BigInt(seenAt + 3_600_000),
    });
    expect(await lastSeen(s.accountId, 1)).toBe(seenAt);
  });

  it('refuses a touch batch of 1001 addresses', async () => {
    const r = await registerAccount(h);
    const address = pb.message(1, pb.string(1, r.accountId), pb.varint(2, 1));
    const raw = pb.concat(...Array.from({ length: 1001 }, () => address), pb.varint(2, Date.now()));
    const reply = await h.nats.nc.request(h.catalog.registry.touch.subject, raw, { timeout: 5000 });
    const res = decodeReply(h.catalog.registry.touch, reply.data);
    expect(res.result.case === 'error' && res.result.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('answers the compact device sets of several accounts, leaving unknown ones out', async () => {
    const a = stateOf(await registerAccount(h));
    const b = await registerAccount(h);
    const c = await linkCompanion(h, a);
    const sets = await ok(h, h.catalog.registry.getDeviceLists, {
      accountIds: [a.accountId, b.accountId, '00000000-0000-4000-8000-00000000dead'],
    });
    const byId = new Map(
      sets.accounts.map((x) => [x.accountId, x.devices.map((d) => [d.deviceId, d.registrationId])]),
    );
    expect(byId.size).toBe(2);
    expect(byId.get(a.accountId)).toEqual([
      [1, a.primary.registrationId],
      [c.deviceId, c.keys.registrationId],
    ]);
    expect(byId.get(b.accountId)).toEqual([[1, b.keys.registrationId]]);
  });

  it('answers DEVICE_UNKNOWN for an unknown device and NOT_FOUND for an unknown handle', async () => {
    const r = await registerAccount(h);
    expect(
      (await fails(h, h.catalog.registry.getDevice, { device: { accountId: r.accountId, deviceId: 2 } }))
        .code,
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    expect(
      (
        await fails(h, h.catalog.registry.accountLookup, {
          requester: { accountId: r.accountId, deviceId: 1 },
          request: { handle: 'nobody_here' },
        })
      ).code,
    ).toBe(ErrorCode.NOT_FOUND);
  });
});
