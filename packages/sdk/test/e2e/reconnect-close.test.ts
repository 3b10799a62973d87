// The client's own connection life cycle around a broken socket: close() during an automatic
// reconnect keeps it closed, and a send() made while it is away names its clientMessageId.
// A TCP proxy between the client and the gateway can stall new connections (accepted, nothing
// forwarded) and later let them through.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TandemClient, TandemError } from '../../src/index.js';
import { registerPhone, type Stack, startStack, waitUntil } from './stack.js';

class StallingProxy {
  private stalling = false;
  private readonly waiting: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();
  /** Upstream connections that were opened and have closed again. */
  upstreamClosed = 0;
  /** Connections accepted while stalling and not yet let through. */
  get stalled(): number {
    return this.waiting.length;
  }

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(gatewayUrl: string): Promise<StallingProxy> {
    const proxy = new StallingProxy(createServer(), new URL(gatewayUrl));
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  get url(): string {
    const port = (this.server.address() as { port: number }).port;
    return `ws://127.0.0.1:${port}${this.target.pathname}`;
  }

  /** New connections are accepted but nothing is forwarded until `release`. */
  stall(): void {
    this.stalling = true;
  }

  release(): void {
    this.stalling = false;
    for (const go of this.waiting.splice(0)) go();
  }

  /** Breaks every open connection (both sides see the TCP connection go). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.release();
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    const early: Buffer[] = [];
    client.on('data', (chunk: Buffer) => early.push(chunk));
    const forward = () => {
      if (client.destroyed) return;
      const upstream = connect(Number(this.target.port), this.target.hostname);
      this.sockets.add(upstream);
      upstream.on('error', () => undefined);
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        this.upstreamClosed++;
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.removeAllListeners('data');
      for (const chunk of early) upstream.write(chunk);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    if (this.stalling) this.waiting.push(forward);
    else forward();
  }
}

describe('a client whose socket breaks', () => {
  let stack: Stack;
  let proxy: StallingProxy;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;

  beforeAll(async () => {
    stack = await startStack();
    proxy = await StallingProxy.start(stack.url());
    bob = await registerPhone(stack, 'bob');
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([alice?.close(), bob?.close()]);
    await proxy?.close();
    await stack?.close();
  });

  it('rejects send() while it is away with DISCONNECTED and the clientMessageId to retry with', async () => {
    alice = await registerPhone(stack, 'alice', { url: proxy.url });
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
    const closedBefore = proxy.upstreamClosed;
    proxy.release(); // the stalled WebSocket handshake now completes
    // The client drops the socket it no longer wants: the proxy sees that connection close.
    await waitUntil(() => proxy.upstreamClosed > closedBefore, 'the late socket to be closed by the client');
    expect(client.connected).toBe(false);
    expect(connectedEvents).toEqual([]);
  });
});
