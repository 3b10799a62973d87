// Sends made while the socket is re-authenticating after a cut wait for the new connection
// instead of failing: the gateway serves nothing but `authenticate` before it has answered it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, TandemEvents } from '../../src/index.js';
import { TcpProxy } from './nats-harness.js';
import { collect, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('sends during re-authentication', () => {
  let stack: Stack;
  let proxy: TcpProxy;
  let url: string;
  beforeAll(async () => {
    stack = await startStack();
    const gateway = new URL(stack.url());
    proxy = new TcpProxy(Number(gateway.port));
    await proxy.listen();
    url = `ws://127.0.0.1:${proxy.port}${gateway.pathname}`;
  });
  afterAll(async () => {
    await proxy?.close();
    await stack.close();
  });

  it('holds sends made mid-reconnect until the new socket is authenticated; none fails, each arrives once', async () => {
    const alice = await registerPhone(stack, 'alice', { url });
    const bob = await registerPhone(stack, 'bob');
    const bobGot = collect<InboundMessage>((fn) => bob.on('message', fn));
    const disconnects = collect<TandemEvents['disconnected']>((fn) => alice.on('disconnected', fn));
    await alice.send(bob.accountId, { text: 'before' });
    await waitUntil(() => bobGot.length === 1, 'the first message');

    for (let round = 0; round < 3; round++) {
      proxy.cut();
      await waitUntil(() => disconnects.length === round + 1, 'the cut to be noticed');
      // The client is now reconnecting; these sends start before the new socket has authenticated.
      const texts = [0, 1, 2].map((i) => `round ${round} #${i}`);
      const results = await Promise.allSettled(texts.map((text) => alice.send(bob.accountId, { text })));
      const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
      expect(failures).toEqual([]);
    }
    await waitUntil(() => bobGot.length === 10, 'all ten messages');
    await new Promise((r) => setTimeout(r, 200));
    const texts = bobGot.map((m) => m.text);
    expect(new Set(texts).size).toBe(10);
    expect(texts).toHaveLength(10);
    await Promise.all([alice.close(), bob.close()]);
  }, 60_000);
});
