// A private NATS server and a TCP proxy between one gateway and it, for end-to-end tests that take
// NATS away from (part of) a running stack. Other test files share the machine's NATS on 4222,
// which these tests never touch.
//
// - NatsServer: a nats-server child process on a free loopback port, SIGKILLed and started again
//   on the same port.
// - TcpProxy: a TCP forwarder one gateway connects through (or a device to its gateway). It can
//   refuse new connections (hold), accept them but forward nothing until released (stall),
//   break the open ones (cut) and discard what NATS sends to the gateway while the gateway's own
//   bytes still reach NATS (discardFromServer): requests then reach the services, which act on
//   them, but their replies never arrive.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { natsReady } from '@tandem/service-kit';
import { waitFor } from '@tandem/testkit';
import type { TandemClient } from '../../src/index.js';
import type { Stack } from './stack.js';

/** The nats-server binary: on PATH, else Debian's /usr/sbin/nats-server. */
export function findNatsServer(): string {
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

export function freePort(): Promise<number> {
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
export class NatsServer {
  private child: ChildProcess | undefined;
  constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  /** A server on a free port, started. */
  static async start(): Promise<NatsServer> {
    const server = new NatsServer(findNatsServer(), await freePort());
    await server.start();
    return server;
  }

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
 * A TCP forwarder to a port on 127.0.0.1 (the NATS server for one gateway, or a gateway for one
 * device). While held, it closes every new connection at once, so that gateway stays off the bus
 * (it keeps retrying) until `release`. While stalled, it accepts new connections but forwards
 * nothing (the client's handshake hangs) until `release`.
 */
export class TcpProxy {
  private held = false;
  private stalling = false;
  private discarding = false;
  /** Connections accepted while stalling, waiting for `release`. */
  private readonly waiting = new Set<Socket>();
  /** Open connections, as [from the client, to the target] pairs. */
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly server: Server;
  port = 0;
  /** Forwarded connections that have ended since the proxy started. */
  ended = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      if (this.held) {
        client.destroy();
        return;
      }
      if (this.stalling) {
        client.pause(); // what it sends waits in the socket until forwarded
        client.on('error', () => undefined).on('close', () => this.waiting.delete(client));
        this.waiting.add(client);
        return;
      }
      this.forward(client);
    });
  }

  private forward(client: Socket): void {
    if (client.destroyed) return;
    const upstream = tcpConnect(this.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    const end = () => {
      client.destroy();
      upstream.destroy();
      if (this.pairs.delete(pair)) this.ended++;
    };
    this.pairs.add(pair);
    for (const s of pair) s.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!this.discarding) client.write(chunk);
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Open connections through the proxy (one per connected gateway). */
  get connections(): number {
    return this.pairs.size;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Refuses new connections from now on (closes each at once). */
  hold(): void {
    this.held = true;
  }

  /** Accepts new connections from now on but forwards nothing until `release`. */
  stall(): void {
    this.stalling = true;
  }

  /** Connections accepted while stalled and not yet forwarded. */
  get stalled(): number {
    return this.waiting.size;
  }

  /** Ends a hold or a stall; stalled connections are forwarded now. */
  release(): void {
    this.held = false;
    this.stalling = false;
    for (const client of [...this.waiting]) {
      this.waiting.delete(client);
      this.forward(client);
    }
  }

  /** How many times `cut` broke an open connection. */
  cuts = 0;

  /** Breaks every open connection, as a dead NATS server or network would. */
  cut(): void {
    if (this.pairs.size > 0) this.cuts++;
    for (const pair of [...this.pairs]) for (const s of pair) s.destroy();
    this.pairs.clear();
  }

  /**
   * From now on, bytes NATS sends to the gateway are discarded, while the gateway's bytes still
   * reach NATS: its requests are served, the replies (and inbox pushes) are lost, and the
   * connection looks alive to both ends.
   */
  discardFromServer(): void {
    this.discarding = true;
  }

  /**
   * Ends `discardFromServer`. The gateway's side of the stream has lost bytes (half a message
   * may be missing), so the connection is cut too: the gateway reconnects on a clean one.
   */
  stopDiscarding(): void {
    this.discarding = false;
    this.cut();
  }

  /**
   * Back to plain forwarding: releases the hold and ends discarding. Returns true when discarding
   * was on, so the connection was cut (the gateway reconnects).
   */
  restore(): boolean {
    this.release();
    if (!this.discarding) return false;
    this.stopDiscarding();
    return true;
  }

  close(): Promise<void> {
    this.held = false;
    this.stalling = false;
    this.discarding = false;
    for (const client of this.waiting) client.destroy();
    this.waiting.clear();
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A private NATS server and a proxy to it, for one test file. */
export async function startNatsWithProxy(): Promise<{ natsServer: NatsServer; proxy: TcpProxy }> {
  const natsServer = await NatsServer.start();
  const proxy = new TcpProxy(natsServer.port);
  await proxy.listen();
  return { natsServer, proxy };
}

/**
 * Tears down a stack that ran on a private NATS server (for afterAll; safe after any failure):
 * lets every connection back on the bus (the services and clients shut down gracefully only then;
 * a drain started while a connection is still re-dialling fails), closes the clients and the
 * stack, and at last closes whatever NATS connection is still open (the services keep reconnecting
 * forever, so one left open would keep the process alive), kills nats-server and closes the proxy.
 */
export async function shutDown(parts: {
  stack?: Stack | undefined;
  clients?: Array<TandemClient | undefined>;
  natsServer?: NatsServer | undefined;
  proxy?: TcpProxy | undefined;
}): Promise<void> {
  const { stack, natsServer, proxy } = parts;
  const connections = () =>
    stack
      ? [
          ...stack.gateways.map((g) => g.nats),
          stack.registry.nats,
          ...stack.deliveries.map((d) => d.nats),
          stack.nats.nc,
        ]
      : [];
  try {
    proxy?.restore();
    if (natsServer && !natsServer.running) await natsServer.start();
    await waitFor(async () => (await Promise.all(connections().map((nc) => natsReady(nc)))).every(Boolean), {
      timeoutMs: 10_000,
      what: 'every NATS connection to be back before shutting down',
    });
    await Promise.allSettled((parts.clients ?? []).map((c) => c?.close()));
    await stack?.close();
  } finally {
    await Promise.allSettled(connections().map((nc) => (nc.isClosed() ? undefined : nc.close())));
    await natsServer?.kill();
    await proxy?.close();
  }
}

/** The fields of a service log line these tests look at. */
export interface LogLine {
  service: string;
  msg: string;
  nats?: string;
  devices?: number;
  frame?: string;
}

/** The stack's log lines written since `mark` (an earlier `stack.logs.length`), parsed. */
export function logLinesSince(stack: Stack, mark: number): LogLine[] {
  return stack.logs.slice(mark).map((l) => JSON.parse(l) as LogLine);
}

/** How many requests of this frame type a gateway has received so far (its frames-in counter). */
export async function framesReceived(stack: Stack, gateway: number, type: string): Promise<number> {
  const metric = await stack.gateways[gateway]!.core.metrics.framesIn.get();
  return metric.values.find((v) => v.labels.type === type)?.value ?? 0;
}
