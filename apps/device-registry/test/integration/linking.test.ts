import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeviceStatus, LinkCancelReason, RevokeReason } from '@tandem/proto';
import { ManualClock } from '../../src/app.js';
import { DeviceKeys } from '../helpers/keys.js';
import {
  approval,
  collect,
  ErrorCode,
  fails,
  type Harness,
  linkCompanion,
  listEntries,
  ok,
  registerAccount,
  settle,
  startHarness,
  startLink,
  stateOf,
} from '../helpers/registry.js';

const DAY = 24 * 60 * 60 * 1000;

describe('linking companions over NATS', () => {
  let h: Harness;
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    h = await startHarness({ LINK_SESSION_TTL_MS: '300000', COMPANION_INACTIVITY_DAYS: '14' }, { clock });
  });
  afterAll(async () => {
    await h.close();
  });

  it('links a companion: approve relays the payload, complete activates it, events and device list follow', async () => {
    const s = stateOf(await registerAccount(h));
    const { linkId, expiresAtMs, companion } = await startLink(h);
    expect(Number(expiresAtMs)).toBe(clock.now().getTime() + 300_000);
    const relay = collect(h, h.catalog.link(linkId));
    const linked = collect(h, h.catalog.events.deviceLinked);
    const changed = collect(h, h.catalog.events.deviceListChanged);
    await relay.flush();

    const req = approval(s, linkId, companion, 2);
    const approved = await ok(h, h.catalog.registry.linkApprove, req);
    expect(approved.deviceId).toBe(2);
    s.listIndex += 1;
    // Approved but not completed: not an active device yet.
    expect(
      (await fails(h, h.catalog.registry.getDevice, { device: { accountId: s.accountId, deviceId: 2 } }))
        .code,
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    const completed = await ok(h, h.catalog.registry.linkComplete, {
      request: {
        linkId,
        deviceIdentity: companion.counterSign(req.request.deviceIdentity, s.primary.publicKey),
        ...companion.keySet(3, 1),
      },
    });
    expect(completed).toMatchObject({ accountId: s.accountId, deviceId: 2 });
    const device = await ok(h, h.catalog.registry.getDevice, {
      device: { accountId: s.accountId, deviceId: 2 },
    });
    expect(device).toMatchObject({
      status: DeviceStatus.ACTIVE,
      isPrimary: false,
      registrationId: companion.registrationId,
    });

    await settle(h);
    const payload = relay.got[0]!;
    expect(payload.kind.case).toBe('payload');
    expect(payload.kind.case === 'payload' && payload.kind.value).toMatchObject({
      linkId,
      accountId: s.accountId,
      deviceId: 2,
      sealedPayload: new Uint8Array([1, 2, 3]),
    });
    expect(linked.got.map((e) => e.device)).toContainEqual(
      expect.objectContaining({ accountId: s.accountId, deviceId: 2 }),
    );
    expect(changed.got.map((e) => e.accountId)).toContain(s.accountId);

    // The device list carries the primary's signatures for the companion.
    const list = await ok(h, h.catalog.registry.getDeviceList, {
      requester: { accountId: s.accountId, deviceId: 2 },
      request: { accountId: s.accountId },
    });
    expect(list.devices.map((d) => d.deviceId)).toEqual([1, 2]);
    expect(list.nextDeviceId).toBe(3);
    expect(list.primaryIdentityKey).toEqual(s.primary.publicKey);
    expect(list.signedList?.list).toEqual(req.request.signedList.list);
    const info = list.devices[1]!;
    expect(info.name).toBe('laptop');
    expect(info.identity?.accountSignature).toEqual(req.request.deviceIdentity.accountSignature);
    expect(info.identity?.deviceSignature).toHaveLength(64);
    // Another account sees no names and no next device id.
    const other = await registerAccount(h);
    const seen = await ok(h, h.catalog.registry.getDeviceList, {
      requester: { accountId: other.accountId, deviceId: 1 },
      request: { accountId: s.accountId },
    });
    expect(seen.devices.map((d) => d.name)).toEqual(['', '']);
    expect(seen.nextDeviceId).toBe(0);
    // The compact form for the gateway, for several accounts at once.
    const sets = await ok(h, h.catalog.registry.getDeviceLists, {
      accountIds: [s.accountId, other.accountId],
    });
    const mine = sets.accounts.find((a) => a.accountId === s.accountId)!;
    expect(mine.devices.map((d) => [d.deviceId, d.registrationId])).toEqual([
      [1, s.primary.registrationId],
      [2, companion.registrationId],
    ]);
    expect(sets.accounts).toHaveLength(2);
    // Bundles now cover both devices.
    const bundles = await ok(h, h.catalog.registry.claimBundles, {
      requester: { accountId: other.accountId, deviceId: 1 },
      request: { accountId: s.accountId, deviceIds: [] },
    });
    expect(bundles.bundles.map((b) => b.deviceId)).toEqual([1, 2]);

    // A completed session cannot be used again.
    expect(
      (
        await fails(h, h.catalog.registry.linkComplete, {
          request: {
            linkId,
            deviceIdentity: companion.counterSign(req.request.deviceIdentity, s.primary.publicKey),
            ...companion.keySet(1, 1),
          },
        })
      ).code,
    ).toBe(ErrorCode.LINK_ALREADY_USED);
    relay.stop();
    linked.stop();
    changed.stop();
  });

  it('refuses a fifth companion with DEVICE_LIMIT naming the linked count, and tells the companion', async () => {
    const s = stateOf(await registerAccount(h));
    for (let i = 0; i < 4; i++) await linkCompanion(h, s);
    const { linkId, companion } = await startLink(h);
    const relay = collect(h, h.catalog.link(linkId));
    await relay.flush();
    // A list can hold at most 5 devices, so the primary cannot even sign one with a sixth; the
    // registry refuses the approval on the count whatever list comes with it.
    const req = approval(s, linkId, companion, 6, { includeCompanion: false });
    const e = await fails(h, h.catalog.registry.linkApprove, req);
    expect(e.code).toBe(ErrorCode.DEVICE_LIMIT);
    const details = e.error.details as {
      kind: { case: string; value: { linkedCount: number; maxCompanions: number } };
    };
    expect(details.kind.case).toBe('deviceLimit');
    expect(details.kind.value).toMatchObject({ linkedCount: 4, maxCompanions: 4 });
    expect(await h.app.prisma.device.count({ where: { accountId: s.accountId } })).toBe(5);
    await settle(h);
    expect(relay.got.map((m) => m.kind.case === 'cancelled' && m.kind.value.reason)).toEqual([
      LinkCancelReason.DEVICE_LIMIT,
    ]);
    relay.stop();
  });

  it('lets only one of two concurrent approvals take the last companion slot', async () => {
    const s = stateOf(await registerAccount(h));
    for (let i = 0; i < 3; i++) await linkCompanion(h, s);
    const a = await startLink(h);
    const b = await startLink(h);
    const results = await Promise.allSettled([
      ok(h, h.catalog.registry.linkApprove, approval(s, a.linkId, a.companion, 5)),
      ok(h, h.catalog.registry.linkApprove, approval(s, b.linkId, b.companion, 5)),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    // The loser saw either the full account or the moved device id; never a sixth device.
    expect(['DEVICE_LIMIT', 'CONFLICT']).toContain(failure.reason.codeName);
    expect(await h.app.prisma.device.count({ where: { accountId: s.accountId, revokedAt: null } })).toBe(5);
  });

  it('answers CONFLICT with the next device id when the primary approved with a stale one', async () => {
    const s = stateOf(await registerAccount(h));
    const { linkId, companion } = await startLink(h);
    const e = await fails(h, h.catalog.registry.linkApprove, approval(s, linkId, companion, 3));
    // The primary signed for device 3 but the account's next id is 2: refused, nothing written.
    expect(e.code).toBe(ErrorCode.CONFLICT);
    const details = e.error.details as { kind: { case: string; value: { deviceId: number } } };
    expect(details.kind).toMatchObject({ case: 'nextDeviceId', value: { deviceId: 2 } });
    const list = await ok(h, h.catalog.registry.getDeviceList, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: { accountId: s.accountId },
    });
    expect(list.nextDeviceId).toBe(2);
  });

  it('refuses an approval whose signed list omits a device, or whose account signature is bad', async () => {
    const s = stateOf(await registerAccount(h));
    const { linkId, companion } = await startLink(h);
    const wrongList = approval(s, linkId, companion, 2);
    wrongList.request.signedList = s.primary.signList(s.accountId, 1, listEntries(s)); // without the companion
    expect((await fails(h, h.catalog.registry.linkApprove, wrongList)).code).toBe(ErrorCode.CONFLICT);
    const badSig = approval(s, linkId, companion, 2);
    badSig.request.deviceIdentity = new DeviceKeys().vouchFor(s.accountId, 2, companion.publicKey);
    expect((await fails(h, h.catalog.registry.linkApprove, badSig)).code).toBe(ErrorCode.BAD_SIGNATURE);
    const forged = approval(s, linkId, companion, 2);
    forged.request.signedList.signature = new Uint8Array(64).fill(1);
    expect((await fails(h, h.catalog.registry.linkApprove, forged)).code).toBe(ErrorCode.BAD_SIGNATURE);
    expect(await h.app.prisma.device.count({ where: { accountId: s.accountId } })).toBe(1);
    // The session is still usable with a correct approval.
    expect((await ok(h, h.catalog.registry.linkApprove, approval(s, linkId, companion, 2))).deviceId).toBe(2);
  });

  it('refuses approval by a companion (NOT_PRIMARY)', async () => {
    const s = stateOf(await registerAccount(h));
    const c = await linkCompanion(h, s);
    const { linkId, companion } = await startLink(h);
    const req = approval(s, linkId, companion, 3);
    req.requester = { accountId: s.accountId, deviceId: c.deviceId };
    expect((await fails(h, h.catalog.registry.linkApprove, req)).code).toBe(ErrorCode.NOT_PRIMARY);
  });

  it('refuses an expired session, a reused one and an unknown one', async () => {
    const s = stateOf(await registerAccount(h));
    const expired = await startLink(h);
    clock.advance(300_001);
    expect(
      (await fails(h, h.catalog.registry.linkApprove, approval(s, expired.linkId, expired.companion, 2)))
        .code,
    ).toBe(ErrorCode.LINK_EXPIRED);
    const used = await startLink(h);
    await ok(h, h.catalog.registry.linkApprove, approval(s, used.linkId, used.companion, 2));
    s.listIndex += 1;
    s.devices.set(2, used.companion);
    const again = await fails(h, h.catalog.registry.linkApprove, approval(s, used.linkId, used.companion, 3));
    expect(again.code).toBe(ErrorCode.LINK_ALREADY_USED);
    expect(
      (
        await fails(
          h,
          h.catalog.registry.linkApprove,
          approval(s, '00000000-0000-4000-8000-00000000abcd', used.companion, 3),
        )
      ).code,
    ).toBe(ErrorCode.LINK_NOT_FOUND);
    // An approved session not completed in time expires too.
    clock.advance(300_001);
    const late = await fails(h, h.catalog.registry.linkComplete, {
      request: {
        linkId: used.linkId,
        deviceIdentity: used.companion.counterSign(
          s.primary.vouchFor(s.accountId, 2, used.companion.publicKey),
          s.primary.publicKey,
        ),
        ...used.companion.keySet(1, 1),
      },
    });
    expect(late.code).toBe(ErrorCode.LINK_EXPIRED);
  });

  it('cancels a session from either side; the companion is told when the primary cancels; a cancelled session is spent', async () => {
    const s = stateOf(await registerAccount(h));
    const byCompanion = await startLink(h);
    const out = await ok(h, h.catalog.registry.linkCancel, { request: { linkId: byCompanion.linkId } });
    expect(out.reason).toBe(LinkCancelReason.CANCELLED_BY_COMPANION);
    expect(
      (
        await fails(
          h,
          h.catalog.registry.linkApprove,
          approval(s, byCompanion.linkId, byCompanion.companion, 2),
        )
      ).code,
    ).toBe(ErrorCode.LINK_ALREADY_USED);
    expect(
      (await fails(h, h.catalog.registry.linkCancel, { request: { linkId: byCompanion.linkId } })).code,
    ).toBe(ErrorCode.LINK_ALREADY_USED);

    const byPrimary = await startLink(h);
    const relay = collect(h, h.catalog.link(byPrimary.linkId));
    await relay.flush();
    await ok(h, h.catalog.registry.linkApprove, approval(s, byPrimary.linkId, byPrimary.companion, 2));
    const cancelled = await ok(h, h.catalog.registry.linkCancel, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: { linkId: byPrimary.linkId },
    });
    expect(cancelled.reason).toBe(LinkCancelReason.CANCELLED_BY_PRIMARY);
    // The approved-but-never-completed device no longer holds a slot.
    expect(await h.app.prisma.device.count({ where: { accountId: s.accountId, revokedAt: null } })).toBe(1);
    await settle(h);
    expect(
      relay.got.map((m) => [m.kind.case, m.kind.case === 'cancelled' ? m.kind.value.reason : null]),
    ).toEqual([
      ['payload', null],
      ['cancelled', LinkCancelReason.CANCELLED_BY_PRIMARY],
    ]);
    relay.stop();
  });

  it('refuses an approval naming another companion key than the session (INVALID_KEY)', async () => {
    const s = stateOf(await registerAccount(h));
    const { linkId } = await startLink(h);
    const impostor = new DeviceKeys();
    const e = await fails(h, h.catalog.registry.linkApprove, approval(s, linkId, impostor, 2));
    expect(e.code).toBe(ErrorCode.INVALID_KEY);
  });

  it('unlinks: primary removes a companion, a companion removes itself; revoked devices read REVOKED', async () => {
    const s = stateOf(await registerAccount(h));
    const c2 = await linkCompanion(h, s);
    const c3 = await linkCompanion(h, s);
    const revoked = collect(h, h.catalog.events.deviceRevoked);
    const inbox2 = collect(h, h.catalog.inbox(s.accountId, c2.deviceId));
    await Promise.all([revoked.flush(), inbox2.flush()]);

    // A companion may not unlink another one.
    expect(
      (
        await fails(h, h.catalog.registry.unlink, {
          requester: { accountId: s.accountId, deviceId: c3.deviceId },
          request: { deviceId: c2.deviceId },
        })
      ).code,
    ).toBe(ErrorCode.FORBIDDEN);

    s.devices.delete(c2.deviceId);
    s.listIndex += 1;
    await ok(h, h.catalog.registry.unlink, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: {
        deviceId: c2.deviceId,
        signedList: s.primary.signList(s.accountId, s.listIndex, listEntries(s)),
      },
    });
    const d2 = await ok(h, h.catalog.registry.getDevice, {
      device: { accountId: s.accountId, deviceId: c2.deviceId },
    });
    expect(d2.status).toBe(DeviceStatus.REVOKED);
    expect(
      await h.app.prisma.oneTimePrekey.count({ where: { accountId: s.accountId, deviceId: c2.deviceId } }),
    ).toBe(0);
    expect(
      await h.app.prisma.signedPrekey.count({ where: { accountId: s.accountId, deviceId: c2.deviceId } }),
    ).toBe(0);
    const row = await h.app.prisma.device.findUniqueOrThrow({
      where: { accountId_deviceId: { accountId: s.accountId, deviceId: c2.deviceId } },
    });
    expect([row.accountSignature, row.deviceSignature, row.identityDetails]).toEqual([null, null, null]);

    await ok(h, h.catalog.registry.unlink, {
      requester: { accountId: s.accountId, deviceId: c3.deviceId },
      request: { deviceId: c3.deviceId },
    });
    const d3 = await ok(h, h.catalog.registry.getDevice, {
      device: { accountId: s.accountId, deviceId: c3.deviceId },
    });
    expect(d3.status).toBe(DeviceStatus.REVOKED);
    // A revoked device can no longer act.
    expect(
      (
        await fails(h, h.catalog.registry.prekeyCount, {
          device: { accountId: s.accountId, deviceId: c3.deviceId },
        })
      ).code,
    ).toBe(ErrorCode.DEVICE_REVOKED);

    await settle(h);
    expect(revoked.got.map((e) => [e.device?.deviceId, e.reason])).toEqual([
      [c2.deviceId, RevokeReason.UNLINKED_BY_PRIMARY],
      [c3.deviceId, RevokeReason.UNLINKED_BY_SELF],
    ]);
    expect(inbox2.got.map((m) => m.kind.case)).toEqual(['revoked']);
    // The primary re-signs the list after the companion left by itself: unlinking the same id
    // again with the new list stores it and revokes nothing twice.
    s.devices.delete(c3.deviceId);
    s.listIndex += 1;
    const resigned = s.primary.signList(s.accountId, s.listIndex, listEntries(s));
    await ok(h, h.catalog.registry.unlink, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: { deviceId: c3.deviceId, signedList: resigned },
    });
    const list = await ok(h, h.catalog.registry.getDeviceList, {
      requester: { accountId: s.accountId, deviceId: 1 },
      request: { accountId: s.accountId },
    });
    expect(list.signedList?.list).toEqual(resigned.list);
    expect(list.devices.map((d) => d.deviceId)).toEqual([1]);
    await settle(h);
    expect(revoked.got).toHaveLength(2);
    // Unknown device ids are refused.
    expect(
      (
        await fails(h, h.catalog.registry.unlink, {
          requester: { accountId: s.accountId, deviceId: 1 },
          request: { deviceId: 9, signedList: resigned },
        })
      ).code,
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    // Device ids are never reused: the next companion gets 4.
    expect((await linkCompanion(h, s)).deviceId).toBe(4);
    revoked.stop();
    inbox2.stop();
  });

  it('unlinks the companions of a primary not seen for 14 days, once, even with two sweepers', async () => {
    const idle = stateOf(await registerAccount(h));
    const busy = stateOf(await registerAccount(h));
    await linkCompanion(h, idle);
    await linkCompanion(h, idle);
    await linkCompanion(h, busy);
    const revoked = collect(h, h.catalog.events.deviceRevoked);
    await revoked.flush();
    clock.advance(15 * DAY);
    await ok(h, h.catalog.registry.touch, {
      devices: [{ accountId: busy.accountId, deviceId: 1 }],
      seenAtMs: BigInt(clock.now().getTime()),
    });
    const second = await h.startInstance();
    const [a, b] = await Promise.all([h.app.sweeper.runOnce(), second.sweeper.runOnce()]);
    await settle(h, second);
    const mine = revoked.got.filter((e) => e.device?.accountId === idle.accountId);
    expect(mine.map((e) => e.device?.deviceId).sort()).toEqual([2, 3]);
    // Each says why: the primary was inactive (not that it unlinked anyone).
    expect(mine.map((e) => e.reason)).toEqual([RevokeReason.PRIMARY_INACTIVE, RevokeReason.PRIMARY_INACTIVE]);
    expect(revoked.got.filter((e) => e.device?.accountId === busy.accountId)).toHaveLength(0);
    expect(a.inactive + b.inactive).toBeGreaterThanOrEqual(2);
    const still = await ok(h, h.catalog.registry.getDevice, {
      device: { accountId: busy.accountId, deviceId: 2 },
    });
    expect(still.status).toBe(DeviceStatus.ACTIVE);
    await second.stop();
    revoked.stop();
  });
});
