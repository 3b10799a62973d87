import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createDeliveryCore,
  createRedis,
  type DeliveryCore,
  loadDeliveryConfig,
  PROTO_LIMITS,
  settingsFrom,
  systemClock,
} from '@tandem/delivery';
import type { TestClient } from '../helpers/client.js';
import { expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * The stuck-copy safety net on the real Redis and NATS: a copy stored in a connected device's
 * queue whose live push never happens reaches the device anyway, and is counted.
 */
describe('copies queued for a connected device but never pushed', () => {
  let stack: Stack;
  let alice: TestDevice;
  let bob: TestDevice;
  /** A delivery core on the stack's Redis that stores copies without publishing them. */
  let silent: DeliveryCore;
  let closeSilent: () => Promise<unknown>;

  beforeAll(async () => {
    stack = await startStack({
      gatewayEnv: { STUCK_AGE_MS: '1000', STUCK_SWEEP_INTERVAL_MS: '200' },
    });
    const url = stack.gateways[0]!.url;
    alice = await TestDevice.registerPrimary(stack, url);
    bob = await TestDevice.registerPrimary(stack, url);
    await bob.socket.waitPush((f) => f.body.case === 'queueEmpty');
    const config = loadDeliveryConfig({ REDIS_URL: stack.redis.url, REDIS_KEY_PREFIX: stack.redis.prefix });
    const redis = createRedis(config);
    await redis.connect();
    closeSilent = () => redis.quit();
    silent = await createDeliveryCore({
      redis,
      keyPrefix: config.REDIS_KEY_PREFIX,
      expiryShards: config.EXPIRY_SHARDS,
      settings: settingsFrom(config, PROTO_LIMITS),
      publisher: { publish: async () => {} }, // the live push that never happens
      clock: systemClock,
      metrics: {
        copiesAccepted: () => {},
        copiesAcked: () => {},
        copiesExpired: () => {},
        receiptsQueued: () => {},
        time: (_op, fn) => fn(),
      },
    });
  });
  afterAll(async () => {
    await closeSilent();
    await stack.close();
  });

  const stuckTotal = async () =>
    (await stack.gateways[0]!.core.metrics.stuckCopies.get()).values[0]?.value ?? 0;
  const delivered = (c: TestClient, serverId: string) =>
    c.pushes.find((f) => f.body.case === 'deliver' && f.body.value.serverId === serverId);

  it('counts nothing for copies that were pushed, even while they stay unacknowledged past STUCK_AGE_MS', async () => {
    const sent = expectCase(await alice.sendTo(bob.accountId), 'sendResult');
    const serverId = sent.result.case === 'accepted' ? sent.result.value.copies[0]!.serverId : '';
    await bob.socket.waitUntil(() => delivered(bob.socket, serverId), 5000, 'live deliver');
    // Several sweeps see the unacknowledged copy, older than STUCK_AGE_MS: it was forwarded.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await stuckTotal()).toBe(0);
    const copies = bob.socket.pushes.filter(
      (f) => f.body.case === 'deliver' && f.body.value.serverId === serverId,
    );
    expect(copies).toHaveLength(1);
  });

  it('pushes a copy whose live publish never happened within a few seconds and counts it', async () => {
    const accepted = await silent.service.accept({
      sender: alice.address,
      clientMessageId: 'never-published',
      copies: [{ recipient: bob.address, envelopeType: 2, ciphertext: new Uint8Array([1, 2, 3]) }],
    });
    const serverId = accepted.copies[0]!.serverId;
    const got = await bob.socket.waitUntil(() => delivered(bob.socket, serverId), 6000, 'the stuck copy');
    expect(expectCase(got, 'deliver').clientMessageId).toBe('never-published');
    expect(await stuckTotal()).toBe(1);
    const ops = await fetch(`http://127.0.0.1:${stack.gateways[0]!.ops.port}/metrics`);
    expect(await ops.text()).toMatch(/^gateway_stuck_copies_total\{service="gateway"\} 1$/m);
  });
});
