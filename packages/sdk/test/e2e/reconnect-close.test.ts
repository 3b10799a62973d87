// The client's own connection life cycle around a broken socket: close() during an automatic
// reconnect keeps it closed, and a send() made while it is away names its clientMessageId.
// A TcpProxy (nats-harness.ts) between the client and the gateway can stall new connections
// (accepted, nothing forwarded) and later let them through.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TandemClient, TandemError } from '../../src/index.js';
import { TcpProxy } from './nats-harness.js';
import { registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('a client whose socket breaks', () => {
  let stack: Stack;
  let proxy: TcpProxy;
  /** The gateway's WebSocket URL with the proxy in its place. */
  let url: string;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;

  beforeAll(async () => {
    stack = await startStack();
    const gateway = new URL(stack.url());
    proxy = new TcpProxy(Number(gateway.port));
    await proxy.listen();
    url = `ws://127.0.0.1:${proxy.port}${gateway.pathname}`;
    bob = await registerPhone(stack, 'bob');
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([alice?.close(), bob?.close()]);
    await proxy?.close();
    await stack?.close();
  });

  it('rejects send() while it is away with DISCONNECTED and the clientMessageId to retry with', async () => {
    alice = await registerPhone(stack, 'alice', { url });
    proxy.stall();
    proxy.cut();
    await waitUntil(() => !alice!.connected, 'Alice to notice the broken socket');
    let error: unknown;
    try {
      await alice.send(bob!.accountId, { text: 'while away' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TandemError);
    expect((error as TandemError).code).toBe('DISCONNECTED');
    expect((error as TandemError).extra.clientMessageId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    proxy.release();
    await waitUntil(() => alice!.connected, 'Alice to reconnect by herself');
  });

  it('stays closed when close() is called while an automatic reconnect is opening its socket', async () => {
    const client = alice!;
    proxy.stall();
    proxy.cut();
    await waitUntil(() => proxy.stalled > 0, 'the reconnect to reach the proxy');
    const connectedEvents: unknown[] = [];
    client.on('connected', (e) => void connectedEvents.push(e));
    await client.close();
    expect(client.connected).toBe(false);
    const endedBefore = proxy.ended;
    proxy.release(); // the stalled WebSocket handshake now completes
    // The client drops the socket it no longer wants: the proxy sees that connection close.
    await waitUntil(() => proxy.ended > endedBefore, 'the late socket to be closed by the client');
    expect(client.connected).toBe(false);
    expect(connectedEvents).toEqual([]);
  });
});
