import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode, LinkCancelReason } from '@tandem/proto';
import { errorCode, expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * QR linking across gateways (companion on gw2, primary on gw1), the socket becoming the new
 * device, devices_changed pushes, the send check following the new device set, cancel, and unlink
 * closing the companion's socket with 4003 within a second.
 */
describe('linking and unlinking', () => {
  let stack: Stack;
  let gw1: string;
  let gw2: string;
  let alice: TestDevice;
  let bob: TestDevice;
  const companion = new TestDevice();

  beforeAll(async () => {
    stack = await startStack({ gateways: 2, registryEnv: { LINK_SESSION_TTL_MS: '4000' } });
    gw1 = stack.gateways[0]!.url;
    gw2 = stack.gateways[1]!.url;
    alice = await TestDevice.registerPrimary(stack, gw1);
    bob = await TestDevice.registerPrimary(stack, gw2);
  });
  afterAll(async () => {
    await stack.close();
  });

  it('links a companion waiting on another gateway; its socket becomes the new device', async () => {
    const { client, linkId } = await companion.startLink(gw2);
    // The linking socket is not subject to the auth timeout and refuses device frames.
    const early = await client.request({
      case: 'prekeyCount',
      value: { $typeName: 'tandem.v1.PrekeyCount' },
    });
    expect(errorCode(early)).toBe(ErrorCode.FORBIDDEN);
    const { answer, approval } = await alice.approveLink(linkId, companion);
    const approved = expectCase(answer, 'linkApproved');
    expect(approved.deviceId).toBe(2);
    const done = expectCase(await companion.completeLink(client, linkId, alice, approval), 'linkCompleted');
    expect(done).toMatchObject({ accountId: alice.accountId, deviceId: 2 });
    await client.waitPush((f) => f.body.case === 'queueEmpty', 5000, 'queue_empty after link');
    expectCase(
      await client.request({ case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } }),
      'prekeyCountResult',
    );
    // The primary hears about the new device.
    await alice.socket.waitPush((f) => f.body.case === 'devicesChanged', 5000, 'devices_changed');
  });

  it('makes senders cover the new companion (device-list cache invalidated by the event)', async () => {
    const stale = await bob.socket.request(
      bob.sendBody(alice.accountId, [
        { accountId: alice.accountId, deviceId: 1, registrationId: alice.registrationId },
      ]),
    );
    const r = expectCase(stale, 'sendResult').result;
    expect(r.case === 'mismatchedDevices' && r.value.missing.map((a) => a.deviceId)).toEqual([2]);
    const ok = expectCase(await bob.sendTo(alice.accountId), 'sendResult').result;
    expect(ok.case === 'accepted' && ok.value.copies.length).toBe(2);
    await companion.socket.waitPush((f) => f.body.case === 'deliver', 5000, 'deliver to companion');
  });

  it('requires the primary to fan out to its own companion too', async () => {
    const r = expectCase(
      await alice.socket.request(
        alice.sendBody(bob.accountId, [
          { accountId: bob.accountId, deviceId: 1, registrationId: bob.registrationId },
        ]),
      ),
      'sendResult',
    ).result;
    expect(r.case === 'mismatchedDevices' && r.value.missing).toEqual([
      expect.objectContaining({ accountId: alice.accountId, deviceId: 2 }),
    ]);
  });

  it('cancels a pending link from the companion socket with link_cancelled and a normal close', async () => {
    const other = new TestDevice();
    const { client, linkId } = await other.startLink(gw1);
    const cancelled = expectCase(
      await client.request({ case: 'linkCancel', value: { $typeName: 'tandem.v1.LinkCancel', linkId } }),
      'linkCancelled',
    );
    expect(cancelled.linkId).toBe(linkId);
    expect((await client.closed).code).toBe(1000);
  });

  it('tells a waiting companion when the primary cancels its link', async () => {
    const other = new TestDevice();
    const { client, linkId } = await other.startLink(gw2);
    expectCase(
      await alice.socket.request({
        case: 'linkCancel',
        value: { $typeName: 'tandem.v1.LinkCancel', linkId },
      }),
      'linkCancelled',
    );
    const pushed = expectCase(
      await client.waitPush((f) => f.body.case === 'linkCancelled', 5000, 'link_cancelled push'),
      'linkCancelled',
    );
    expect(pushed.reason).toBe(LinkCancelReason.CANCELLED_BY_PRIMARY);
    expect((await client.closed).code).toBe(1000);
  });

  it('ends a link session that nobody approves at its expiry with link_cancelled(EXPIRED)', async () => {
    const other = new TestDevice();
    const t0 = Date.now();
    const { client } = await other.startLink(gw1);
    const pushed = expectCase(
      await client.waitPush((f) => f.body.case === 'linkCancelled', 8000, 'link_cancelled on expiry'),
      'linkCancelled',
    );
    expect(pushed.reason).toBe(LinkCancelReason.EXPIRED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3900);
    expect((await client.closed).code).toBe(1000);
  }, 15_000);

  it('refuses link_approve from a companion with NOT_PRIMARY', async () => {
    const r = await companion.socket.request({
      case: 'linkApprove',
      value: (await import('@tandem/proto')).create((await import('@tandem/proto')).LinkApproveSchema, {
        linkId: '00000000-0000-4000-8000-000000000001',
        companionIdentityKey: new Uint8Array(32).fill(1),
        deviceIdentity: { details: new Uint8Array(65), accountSignature: new Uint8Array(64) },
        signedList: { list: new Uint8Array(60), signature: new Uint8Array(64) },
        sealedPayload: new Uint8Array(10),
        deviceId: 3,
      }),
    });
    expect(errorCode(r)).toBe(ErrorCode.NOT_PRIMARY);
  });

  it('closes an unlinked companion’s socket with 4003 within a second', async () => {
    const socket = companion.socket;
    const t0 = Date.now();
    expectCase(await alice.unlink(2), 'unlinked');
    const closed = await socket.closed;
    expect(closed.code).toBe(4003);
    expect(Date.now() - t0).toBeLessThan(1000);
    // Told why before the close.
    const told = socket.pushes.find((f) => f.body.case === 'error');
    expect(told && expectCase(told, 'error')).toMatchObject({
      code: ErrorCode.DEVICE_REVOKED,
      message: 'device was unlinked by the primary',
    });
    // It cannot come back.
    const { TestClient } = await import('../helpers/client.js');
    const again = await TestClient.connect(gw2);
    const r = await again.request(companion.authenticateBody(again));
    expect(errorCode(r)).toBe(ErrorCode.DEVICE_REVOKED);
    expect((await again.closed).code).toBe(4003);
    await alice.socket.waitUntil(
      () => alice.socket.pushes.filter((f) => f.body.case === 'devicesChanged').length >= 2 || undefined,
      5000,
      'second devices_changed',
    );
  });
});
