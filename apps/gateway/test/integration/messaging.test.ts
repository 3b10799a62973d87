import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode, ReceiptKind } from '@tandem/proto';
import type { TestClient } from '../helpers/client.js';
import { errorCode, expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * Send / deliver / ack across two gateway instances on the real registry, delivery, NATS,
 * Postgres and Redis; the device-set check; the offline backlog; displacement.
 */
describe('messaging across gateways', () => {
  let stack: Stack;
  let gw1: string;
  let gw2: string;
  let alice: TestDevice;
  let bob: TestDevice;

  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
    gw1 = stack.gateways[0]!.url;
    gw2 = stack.gateways[1]!.url;
    alice = await TestDevice.registerPrimary(stack, gw1);
    bob = await TestDevice.registerPrimary(stack, gw2);
    await alice.socket.waitPush((f) => f.body.case === 'queueEmpty');
    await bob.socket.waitPush((f) => f.body.case === 'queueEmpty');
  });
  afterAll(async () => {
    await stack.close();
  });

  const delivers = (c: TestClient) => c.pushes.filter((f) => f.body.case === 'deliver');

  it('carries a message from a device on one gateway to a device on another, and the ack back as a receipt', async () => {
    const before = delivers(bob.socket).length;
    const sent = expectCase(await alice.sendTo(bob.accountId), 'sendResult');
    const accepted = sent.result.case === 'accepted' ? sent.result.value : undefined;
    expect(accepted?.copies).toHaveLength(1);
    const serverId = accepted!.copies[0]!.serverId;
    const got = await bob.socket.waitUntil(() => delivers(bob.socket)[before], 5000, 'deliver on gw2');
    const copy = expectCase(got, 'deliver');
    expect(copy.serverId).toBe(serverId);
    expect(copy.sender).toMatchObject({ accountId: alice.accountId, deviceId: 1 });
    expect(copy.content.case).toBe('envelope');
    expectCase(
      await bob.socket.request({ case: 'ack', value: { $typeName: 'tandem.v1.Ack', serverIds: [serverId] } }),
      'acked',
    );
    const receipt = await alice.socket.waitPush(
      (f) => f.body.case === 'deliver' && f.body.value.content.case === 'receipt',
      5000,
      'delivered receipt',
    );
    const r = expectCase(receipt, 'deliver');
    expect(r.content.case === 'receipt' && r.content.value.kind).toBe(ReceiptKind.DELIVERED);
  });

  it('answers mismatched_devices with the missing and extra device ids', async () => {
    const extra = await alice.socket.request(
      alice.sendBody(bob.accountId, [
        { accountId: bob.accountId, deviceId: 1, registrationId: bob.registrationId },
        { accountId: bob.accountId, deviceId: 7, registrationId: 1 },
      ]),
    );
    const r1 = expectCase(extra, 'sendResult').result;
    expect(r1.case).toBe('mismatchedDevices');
    if (r1.case === 'mismatchedDevices') {
      expect(r1.value.missing).toEqual([]);
      expect(r1.value.extra.map((a) => a.deviceId)).toEqual([7]);
    }
    const missing = await alice.socket.request(
      alice.sendBody(bob.accountId, [{ accountId: alice.accountId, deviceId: 9, registrationId: 1 }]),
    );
    const r2 = expectCase(missing, 'sendResult').result;
    expect(r2.case).toBe('mismatchedDevices');
    if (r2.case === 'mismatchedDevices') {
      expect(r2.value.missing).toEqual([expect.objectContaining({ accountId: bob.accountId, deviceId: 1 })]);
      expect(r2.value.extra).toEqual([expect.objectContaining({ accountId: alice.accountId, deviceId: 9 })]);
    }
  });

  it('answers stale_devices for a wrong registration id', async () => {
    const r = await alice.socket.request(
      alice.sendBody(bob.accountId, [
        { accountId: bob.accountId, deviceId: 1, registrationId: bob.registrationId + 1 },
      ]),
    );
    const res = expectCase(r, 'sendResult').result;
    expect(res.case).toBe('staleDevices');
  });

  it('answers a send to an unknown account with NOT_FOUND', async () => {
    const r = await alice.socket.request(
      alice.sendBody('00000000-0000-4000-8000-000000000abc', [
        { accountId: '00000000-0000-4000-8000-000000000abc', deviceId: 1, registrationId: 1 },
      ]),
    );
    expect(errorCode(r)).toBe(ErrorCode.NOT_FOUND);
  });

  it('queues for an offline device and drains the backlog in order, then queue_empty', async () => {
    bob.socket.close();
    await bob.socket.closed;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = expectCase(await alice.sendTo(bob.accountId), 'sendResult').result;
      if (res.case !== 'accepted') throw new Error(res.case);
      ids.push(res.value.copies[0]!.serverId);
    }
    const c = await bob.connect(gw1);
    await c.waitPush((f) => f.body.case === 'queueEmpty', 5000, 'queue_empty');
    const order = c.pushes.map((f) =>
      f.body.case === 'deliver' ? f.body.value.serverId : (f.body.case ?? ''),
    );
    const drained = order.slice(0, order.indexOf('queueEmpty'));
    // The first test's copy was acked; the 7 new ones come in send order, before queue_empty.
    expect(drained.filter((x) => ids.includes(x))).toEqual(ids);
    const seqs = c.pushes.flatMap((f) => (f.body.case === 'deliver' ? [f.body.value.seq] : []));
    expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);
    expectCase(
      await c.request({ case: 'ack', value: { $typeName: 'tandem.v1.Ack', serverIds: ids } }),
      'acked',
    );
  });

  it('displaces a connection of the same device on another gateway with 4409', async () => {
    const first = bob.socket; // on gw1
    const second = await bob.connect(gw2);
    expect((await first.closed).code).toBe(4409);
    expect(await second.pingRtt()).toBeLessThan(500);
    // Messages now reach the new socket only.
    const before = delivers(second).length;
    expectCase(await alice.sendTo(bob.accountId), 'sendResult');
    await second.waitUntil(() => delivers(second)[before], 5000, 'deliver after displacement');
  });

  it('displaces a connection of the same device on the same gateway with 4409', async () => {
    const first = bob.socket;
    await bob.connect(gw2);
    expect((await first.closed).code).toBe(4409);
  });

  it('rejects authenticated-only frames before authentication and registration frames after it', async () => {
    const r = await alice.socket.request({
      case: 'registerRequestCode',
      value: { $typeName: 'tandem.v1.RegisterRequestCode', handle: 'someone_else' },
    });
    expect(errorCode(r)).toBe(ErrorCode.FORBIDDEN);
  });
});
