import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CloseCode } from '@tandem/proto';
import { TestClient } from '../helpers/client.js';
import { expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/** Heartbeats of authenticated sockets and graceful shutdown of one gateway of two. */
describe('heartbeat and graceful shutdown', () => {
  let stack: Stack;
  let alice: TestDevice;
  let bob: TestDevice;

  beforeAll(async () => {
    stack = await startStack({
      gateways: 2,
      gatewayEnv: { HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TIMEOUT_MS: '400' },
    });
    alice = await TestDevice.registerPrimary(stack, stack.gateways[1]!.url);
    bob = await TestDevice.registerPrimary(stack, stack.gateways[0]!.url);
  });
  afterAll(async () => {
    await stack.close();
  });

  it('keeps an idle device that answers pings, and closes one that does not with 4004', async () => {
    const quiet = await bob.connect(stack.gateways[0]!.url, { autoPong: false });
    const lively = await alice.connect(stack.gateways[1]!.url);
    const t0 = Date.now();
    expect((await quiet.closed).code).toBe(CloseCode.HEARTBEAT_TIMEOUT);
    expect(Date.now() - t0).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 800));
    expect(lively.closeInfo).toBeUndefined();
    expect(await lively.pingRtt()).toBeLessThan(500);
    await bob.connect(stack.gateways[0]!.url);
  });

  it('reports not ready while draining', async () => {
    const gw = stack.gateways[1]!;
    const ready = await fetch(`http://127.0.0.1:${gw.ops.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(gw.core.session.isDraining).toBe(false);
  });

  it('on stop: finishes an in-flight send, pushes going_away, closes with 1012 and refuses new sockets', async () => {
    const gw = stack.gateways[1]!;
    const socket = alice.socket;
    const sendsBefore = await sendFrames(gw);
    const copies = await alice.fanout(bob.accountId);
    const answer = socket.request(alice.sendBody(bob.accountId, copies)).catch(() => undefined);
    while ((await sendFrames(gw)) === sendsBefore) await new Promise((r) => setImmediate(r));
    // The send is in flight at the gateway; shut it down now.
    const draining = gw.core.session.shutdown(8000);
    const readyz = await fetch(`http://127.0.0.1:${gw.ops.port}/readyz`);
    expect(readyz.status).toBe(503);
    const late = await TestClient.connect(gw.url, { waitChallenge: false });
    expect((await late.closed).code).toBe(CloseCode.SERVICE_RESTART);
    await draining;
    await gw.stop();
    const closed = await socket.closed;
    expect(closed.code).toBe(CloseCode.SERVICE_RESTART);
    const away = socket.pushes.find((f) => f.body.case === 'goingAway');
    expect(away?.body.case === 'goingAway' && away.body.value.reconnectDelayMs).toBeGreaterThanOrEqual(0);
    // (The answer itself may be lost with the socket; the client would retry idempotently.)
    void answer;
    // The send accepted during the drain reached delivery: Bob gets it on the other gateway.
    await bob.socket.waitPush(
      (f) => f.body.case === 'deliver' && f.body.value.sender?.accountId === alice.accountId,
      10_000,
      'the in-flight message',
    );
    // Alice reconnects to the surviving gateway.
    const again = await alice.connect(stack.gateways[0]!.url);
    expect(
      expectCase(
        await again.request({ case: 'ping', value: { $typeName: 'tandem.v1.Ping', timestampMs: 1n } }),
        'pong',
      ),
    ).toBeDefined();
  });
});

async function sendFrames(gw: Stack['gateways'][number]): Promise<number> {
  const m = await gw.core.metrics.framesIn.get();
  return m.values.find((v) => v.labels.type === 'send')?.value ?? 0;
}
