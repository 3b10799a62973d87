import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * A device that stops reading its socket must be cut off (4410) once its send buffer passes the
 * bound, instead of growing the gateway's memory, while other devices keep their latency.
 */
describe('slow reader', () => {
  let stack: Stack;
  let url: string;
  let alice: TestDevice;
  let bob: TestDevice;
  let carol: TestDevice;

  beforeAll(async () => {
    stack = await startStack({
      gatewayEnv: {
        MAX_BUFFERED_BYTES: String(256 * 1024),
        SEND_RATE_PER_SEC: '1000',
        SEND_RATE_BURST: '1000',
      },
    });
    url = stack.gateways[0]!.url;
    [alice, bob, carol] = await Promise.all([
      TestDevice.registerPrimary(stack, url),
      TestDevice.registerPrimary(stack, url),
      TestDevice.registerPrimary(stack, url),
    ]);
    await bob.socket.waitPush((f) => f.body.case === 'queueEmpty');
  });
  afterAll(async () => {
    await stack.close();
  });

  it('closes a client that paused its socket with 4410 while another client keeps a fast round trip', async () => {
    const paused = bob.socket;
    // Stop reading: the kernel buffers fill, then ws.bufferedAmount grows on the gateway.
    (paused.ws as unknown as { _socket: Socket })._socket.pause();
    const copies = await alice.fanout(bob.accountId);
    const rtts: number[] = [];
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (!paused.closeInfo && Date.now() < deadline) {
      const batch = [];
      for (let i = 0; i < 20; i++)
        batch.push(alice.socket.request(alice.sendBody(bob.accountId, copies, 60 * 1024)));
      for (const r of await Promise.all(batch))
        expect(expectCase(r, 'sendResult').result.case).toBe('accepted');
      sent += batch.length;
      rtts.push(await carol.socket.pingRtt());
      // The gateway closed (and terminated) the paused socket once it stopped reading; resume so the
      // client notices the close.
      if (stack.gateways[0]!.core.connections.getDevice(bob.accountId, 1) === undefined) {
        (paused.ws as unknown as { _socket: Socket })._socket.resume();
      }
    }
    const closed = await paused.closed;
    expect([4410, 1006]).toContain(closed.code);
    expect(stack.gateways[0]!.core.connections.getDevice(bob.accountId, 1)).toBeUndefined();
    expect(sent).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${stack.gateways[0]!.ops.port}/metrics`)).text();
    expect(metrics).toMatch(/gateway_closes_total\{code="4410",service="gateway"\} 1/);
    rtts.sort((a, b) => a - b);
    // Carol's pings went through the same gateway (and, in this test, the same process as the
    // sender, registry and delivery) while Bob was being cut off.
    expect(rtts[Math.floor(rtts.length / 2)]!).toBeLessThan(150);
    expect(await carol.socket.pingRtt()).toBeLessThan(150);
  });
});
