// NATS killed with SIGKILL under a running stack and started again on the same port. The test runs
// its own nats-server (other test files share the machine's NATS on 4222, which is never touched).
//
// Topology: Alice's phone on gateway 0, which connects to the private NATS directly; Bob's phone on
// gateway 1, which connects through a TCP proxy in this process. Killing NATS cuts both. The proxy
// can keep gateway 1 off the bus after NATS is back, so Alice's messages are accepted and queued
// while their live push to Bob is lost — what happens in any restart when the recipient's gateway
// reconnects after delivery has published — and the test then shows the gateway's re-drain after
// its reconnect hands them to Bob, whose socket stayed open the whole time.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { natsReady } from '@tandem/service-kit';
import { waitFor } from '@tandem/testkit';
import {
  type InboundMessage,
  MemoryStore,
  type ReceiptEvent,
  type SendResult,
  TandemClient,
  TandemError,
} from '../../src/index.js';
import { collect, options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** The nats-server binary: on PATH, else Debian's /usr/sbin/nats-server. */
function findNatsServer(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const candidate of [...dirs.map((d) => join(d, 'nats-server')), '/usr/sbin/nats-server']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    'nats-server not found on PATH or at /usr/sbin/nats-server; this test runs its own NATS server. ' +
      'Install it (Debian/Ubuntu: apt-get install nats-server) and run the test again.',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A nats-server child process on a fixed loopback port, killed with SIGKILL and started again. */
class NatsServer {
  private child: ChildProcess | undefined;
  constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Resolves once the server logs that it is ready (it accepts clients from then on). */
  start(): Promise<void> {
    if (this.child) return Promise.resolve();
    const child = spawn(this.binary, ['-a', '127.0.0.1', '-p', String(this.port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      let log = '';
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`nats-server on port ${this.port} ${why}:\n${log}`));
      };
      const timer = setTimeout(() => fail('did not get ready within 10 s'), 10_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => fail(`did not start (${err.message})`));
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        fail(`exited (${signal ?? code})`);
      });
    });
  }

  /** SIGKILL: no goodbye to the clients, their sockets just break. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A TCP forwarder to the NATS server for one gateway. While held, it closes every new connection
 * at once, so that gateway stays off the bus (it keeps retrying) until `release`.
 */
class NatsProxy {
  private held = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  port = 0;

  constructor(targetPort: number) {
    this.server = createServer((client) => {
      if (this.held) {
        client.destroy();
        return;
      }
      const upstream = tcpConnect(targetPort, '127.0.0.1');
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', end).on('close', end);
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface LogLine {
  service: string;
  msg: string;
  nats?: string;
  devices?: number;
  frame?: string;
}

describe('NATS killed (SIGKILL) and restarted on the same port under a running stack', () => {
  let natsServer: NatsServer | undefined;
  let proxy: NatsProxy | undefined;
  let stack: Stack | undefined;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;
  const bobStore = new MemoryStore();
  let toBob: InboundMessage[] = [];
  let receipts: ReceiptEvent[] = [];
  const disconnects: string[] = [];
  /** Every send that resolved (the server acknowledged it), in order. */
  const acknowledged: Array<{ text: string; result: SendResult }> = [];
  /** Texts whose send rejected during the outage (the application sends them again later). */
  const rejected: string[] = [];

  const s = () => stack!;
  const send = async (text: string) => {
    const result = await alice!.send(bob!.accountId, { text });
    acknowledged.push({ text, result });
    return result;
  };
  const linesSince = (mark: number): LogLine[] =>
    s()
      .logs.slice(mark)
      .map((l) => JSON.parse(l) as LogLine);
  /** Services (one entry per connection) that logged this NATS status since `mark`. */
  const natsStatus = (mark: number, type: 'disconnect' | 'reconnect') =>
    linesSince(mark)
      .filter((l) => l.msg === 'nats status' && l.nats === type)
      .map((l) => l.service);
  const count = (list: string[], service: string) => list.filter((x) => x === service).length;
  const readyz = async (i: number) =>
    (await fetch(`http://127.0.0.1:${s().gateways[i]!.ops.port}/readyz`)).status;

  beforeAll(async () => {
    natsServer = new NatsServer(findNatsServer(), await freePort());
    await natsServer.start();
    proxy = new NatsProxy(natsServer.port);
    await proxy.listen();
    stack = await startStack({ natsUrl: natsServer.url }); // gateway 0: NATS directly
    await stack.startGateway({ natsUrl: proxy.url }); // gateway 1: NATS through the proxy
    alice = await registerPhone(stack, 'alice');
    bob = await registerPhone(stack, 'bob', { url: stack.url(1), store: bobStore });
    toBob = collect<InboundMessage>((fn) => bob!.on('message', fn));
    receipts = collect<ReceiptEvent>((fn) => alice!.on('receipt', fn));
    alice.on('disconnected', (e) => void disconnects.push(`alice ${e.code} ${e.reason}`));
    bob.on('disconnected', (e) => void disconnects.push(`bob ${e.code} ${e.reason}`));
  }, 30_000);

  afterAll(async () => {
    // Every NATS connection of the stack: the services keep reconnecting forever, so one left open
    // after the server is gone would keep this process alive.
    const connections = () =>
      stack
        ? [...stack.gateways.map((g) => g.nats), stack.registry.nats, stack.delivery.nats, stack.nats.nc]
        : [];
    try {
      // The services and clients shut down gracefully only with NATS there and every connection
      // back on it (a drain started while a connection is still re-dialling fails).
      proxy?.release();
      if (natsServer && !natsServer.running) await natsServer.start();
      await waitFor(
        async () => (await Promise.all(connections().map((nc) => natsReady(nc)))).every(Boolean),
        {
          timeoutMs: 10_000,
          what: 'every NATS connection to be back before shutting down',
        },
      );
      await Promise.allSettled([alice?.close(), bob?.close()]);
      await stack?.close();
    } finally {
      await Promise.allSettled(connections().map((nc) => (nc.isClosed() ? undefined : nc.close())));
      await natsServer?.kill();
      await proxy?.close();
    }
  }, 30_000);

  it('delivers every message acknowledged before the kill to Bob exactly once, with a delivered receipt to Alice', async () => {
    for (const text of ['before 1', 'before 2', 'before 3']) await send(text);
    await waitUntil(() => toBob.length === 3 && receipts.length === 3, 'three messages and receipts');
    expect(toBob.map((m) => [m.clientMessageId, m.text])).toEqual(
      acknowledged.map((a) => [a.result.clientMessageId, a.text]),
    );
    expect(receipts.map((r) => r.clientMessageId).sort()).toEqual(
      acknowledged.map((a) => a.result.clientMessageId).sort(),
    );
  });

  it("while NATS is down, send() rejects with the gateway's retryable TIMEOUT after its one bounded retry, and no device socket drops", async () => {
    const mark = s().logs.length;
    proxy!.hold(); // refuse new connections: once cut, Bob's gateway stays off the bus until released
    await natsServer!.kill();
    // Both gateways, the registry and delivery notice the broken connection (and keep retrying).
    await waitUntil(() => {
      const down = natsStatus(mark, 'disconnect');
      return (
        count(down, 'gateway') >= 2 && count(down, 'device-registry') >= 1 && count(down, 'delivery') >= 1
      );
    }, 'every service to log its NATS disconnect');
    expect(await readyz(0)).toBe(503);

    const busTimeoutMs = s().gateway.core.config.BUS_TIMEOUT_MS;
    for (const text of ['outage 1', 'outage 2']) {
      const started = Date.now();
      const error = await alice!.send(bob!.accountId, { text }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = Date.now() - started;
      // The gateway answered (not the SDK's own 15 s request timeout): delivery.accept timed out
      // twice (the gateway retries once), and the device is told to retry after a second.
      expect(error).toBeInstanceOf(TandemError);
      expect(error).toMatchObject({
        code: 'TIMEOUT',
        message: 'a service did not answer in time',
        extra: { retryAfterMs: 1000 },
      });
      expect(elapsed).toBeGreaterThanOrEqual(2 * busTimeoutMs - 50);
      rejected.push(text);
    }
    // The SDK does not retry a send by itself, and the sockets are untouched by the NATS outage.
    expect(alice!.connected && bob!.connected).toBe(true);
    expect(disconnects).toEqual([]);
    expect(toBob).toHaveLength(3);
    expect(
      linesSince(mark).filter(
        (l) => l.service === 'gateway' && l.msg === 'request failed' && l.frame === 'send',
      ),
    ).toHaveLength(2);
  }, 30_000);

  it("a send in flight when NATS comes back resolves through the gateway's retry, once the services have reconnected", async () => {
    const aliceOnGateway = s().gateway.core.connections.getDevice(alice!.accountId, alice!.deviceId)!;
    const inFlight = send('in flight across the restart');
    inFlight.catch(() => undefined); // awaited below; no unhandled rejection if the test fails first
    await waitUntil(() => aliceOnGateway.inFlight > 0, 'the send to reach the gateway');

    const mark = s().logs.length;
    await natsServer!.start(); // same port
    // Gateway 0, the registry and delivery reconnect on their own (every 250 ms while away);
    // gateway 1 cannot: the proxy still refuses it.
    await waitUntil(
      () => {
        const up = natsStatus(mark, 'reconnect');
        return count(up, 'gateway') >= 1 && count(up, 'device-registry') >= 1 && count(up, 'delivery') >= 1;
      },
      'gateway 0, the registry and delivery to reconnect',
      5000,
    );
    expect(count(natsStatus(mark, 'reconnect'), 'gateway')).toBe(1);
    await waitUntil(() => aliceOnGateway.inFlight === 0, 'the in-flight send to finish', 10_000);
    const result = await inFlight;
    expect(result.copies).toEqual([
      expect.objectContaining({ accountId: bob!.accountId, deviceId: bob!.deviceId }),
    ]);
    expect(await readyz(0)).toBe(200);
    expect(await readyz(1)).toBe(503);
  }, 30_000);

  it("after the restart the application re-sends what was rejected, and every send is acknowledged while Bob's gateway is still off the bus", async () => {
    for (const text of rejected) await send(text); // a new send: the SDK gives it a new clientMessageId
    await send('after the restart');
    // Bob's gateway is still off the bus: the live pushes of these copies went nowhere.
    expect(toBob).toHaveLength(3);
    expect(alice!.connected && bob!.connected).toBe(true);
  }, 30_000);

  it('Bob, connected through the outage, gets the queued messages in order when his gateway reconnects and re-drains', async () => {
    const mark = s().logs.length;
    proxy!.release();
    await waitUntil(
      () =>
        linesSince(mark).some(
          (l) =>
            l.service === 'gateway' &&
            l.msg === 'nats reconnected: cache cleared, queues drained again' &&
            l.devices === 1,
        ),
      "Bob's gateway to reconnect and re-drain",
      5000,
    );
    await waitUntil(() => toBob.length === acknowledged.length, 'the queued messages to reach Bob');
    expect(toBob.slice(3).map((m) => m.text)).toEqual([
      'in flight across the restart',
      'outage 1',
      'outage 2',
      'after the restart',
    ]);
    expect(disconnects).toEqual([]);
  }, 30_000);

  it('after recovery messages flow live again; over the whole run Bob got each acknowledged message exactly once, Alice a receipt for each, and nothing is left queued', async () => {
    await send('live again');
    await waitUntil(
      () => toBob.length === acknowledged.length && receipts.length === acknowledged.length,
      'the live message and every receipt',
    );
    // Exactly the acknowledged messages, in order, each once: the rejected attempts left no copy.
    expect(toBob.map((m) => [m.clientMessageId, m.text])).toEqual(
      acknowledged.map((a) => [a.result.clientMessageId, a.text]),
    );
    expect(new Set(toBob.map((m) => m.serverId)).size).toBe(toBob.length);
    expect(toBob.every((m) => m.from.accountId === alice!.accountId)).toBe(true);
    // One delivered receipt per acknowledged message, naming Bob's phone.
    expect(receipts.map((r) => r.clientMessageId).sort()).toEqual(
      acknowledged.map((a) => a.result.clientMessageId).sort(),
    );
    expect(
      receipts.every(
        (r) => r.kind === 'delivered' && r.device.accountId === bob!.accountId && r.device.deviceId === 1,
      ),
    ).toBe(true);
    expect(disconnects).toEqual([]);

    // Bob reconnects: his queue is empty (every copy was acknowledged), nothing comes twice.
    await bob!.close();
    bob = await TandemClient.open(options(s(), { url: s().url(1), store: bobStore }));
    const replayed = collect<InboundMessage>((fn) => bob!.on('message', fn));
    const drained = bob.once('queue-empty');
    await bob.connect();
    await drained;
    expect(replayed).toEqual([]);
  }, 30_000);
});
