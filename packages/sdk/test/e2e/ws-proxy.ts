// A TCP proxy between one SDK client and its gateway, for end-to-end tests that break the
// device's socket at a chosen moment of a request's life. It reads just enough WebSocket
// (RFC 6455 framing; the gateway turns compression off) to see every Tandem frame go by, decoded,
// and to drop whole frames, so what was lost is known exactly:
//
// - discardFromGateway / discardFromClient: on the connections open now, every frame in that
//   direction is dropped from then on (the socket stays open and looks alive to both ends);
//   connections opened later forward normally.
// - cut: breaks every open connection, as a dead network would (the client sees 1006).
// - hold: refuses new connections until release.
// - frames: every binary frame either way, decoded, with the connection it went over and whether
//   it was dropped.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { decodeClientFrame, decodeServerFrame } from '@tandem/proto';

export interface TappedFrame {
  /** The connection through the proxy: 1, 2, ... in the order they were opened. */
  connection: number;
  direction: 'toGateway' | 'toClient';
  /** The frame's body case ('send', 'ack', 'sendResult', 'deliver', ...), or 'undecodable'. */
  type: string;
  requestId: number;
  /** deliver: the copy's server id; ack: the ids acknowledged; sendResult: the accepted copies' ids. */
  serverIds: string[];
  /** send and deliver of a message: its client message id; deliver of a receipt: the receipt's. */
  clientMessageId?: string;
  /** deliver: 'envelope' or 'receipt'. */
  content?: string;
  dropped: boolean;
}

interface Link {
  id: number;
  client: Socket;
  gateway: Socket;
  dropToGateway: boolean;
  dropToClient: boolean;
}

/** Splits one direction of a WebSocket connection into its HTTP handshake and its frames. */
class WsSplitter {
  private buffer: Buffer = Buffer.alloc(0);
  private handshakeDone = false;
  private fragments: Buffer[] = [];

  constructor(
    /** `message` is set on the last frame of a binary message: the whole message, unmasked. */
    private readonly onUnit: (raw: Buffer, message: Buffer | undefined) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const b = this.buffer;
      if (!this.handshakeDone) {
        const end = b.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.handshakeDone = true;
        this.take(end + 4, undefined);
        continue;
      }
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (b.length < offset + length) return;
      let message: Buffer | undefined;
      if (opcode === 0x2 || opcode === 0x0) {
        const payload = Buffer.from(b.subarray(offset, offset + length));
        if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= b[maskAt + (i % 4)]!;
        this.fragments.push(payload);
        if (fin) {
          message = Buffer.concat(this.fragments);
          this.fragments = [];
        }
      }
      this.take(offset + length, message);
    }
  }

  private take(n: number, message: Buffer | undefined): void {
    const raw = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    this.onUnit(raw, message);
  }
}

function describeClientFrame(bytes: Uint8Array): Omit<TappedFrame, 'connection' | 'direction' | 'dropped'> {
  const f = decodeClientFrame(bytes);
  const base = { type: f.body.case ?? 'empty', requestId: f.requestId, serverIds: [] as string[] };
  if (f.body.case === 'ack') return { ...base, serverIds: [...f.body.value.serverIds] };
  if (f.body.case === 'send') return { ...base, clientMessageId: f.body.value.clientMessageId };
  return base;
}

function describeServerFrame(bytes: Uint8Array): Omit<TappedFrame, 'connection' | 'direction' | 'dropped'> {
  const f = decodeServerFrame(bytes);
  const base = { type: f.body.case ?? 'empty', requestId: f.requestId, serverIds: [] as string[] };
  if (f.body.case === 'sendResult' && f.body.value.result.case === 'accepted') {
    return { ...base, serverIds: f.body.value.result.value.copies.map((c) => c.serverId) };
  }
  if (f.body.case === 'deliver') {
    const d = f.body.value;
    return {
      ...base,
      serverIds: [d.serverId],
      content: d.content.case ?? 'none',
      clientMessageId: d.content.case === 'receipt' ? d.content.value.clientMessageId : d.clientMessageId,
    };
  }
  return base;
}

export class WsProxy {
  /** Every binary frame that passed (or was dropped), in order per direction. */
  readonly frames: TappedFrame[] = [];
  /** How many connections were opened through the proxy (the current one's number, while one is open). */
  opened = 0;
  /** How many times `cut` broke an open connection. */
  cuts = 0;
  private held = false;
  private readonly links = new Set<Link>();
  private readonly server: Server;
  private port = 0;

  private constructor(private readonly target: URL) {
    this.server = createServer((client) => this.accept(client));
  }

  /** A proxy to the gateway at `gatewayUrl` (ws://host:port/path), listening on a free port. */
  static async start(gatewayUrl: string): Promise<WsProxy> {
    const proxy = new WsProxy(new URL(gatewayUrl));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  /** The gateway's URL with the proxy in its place: give it to the client as `url`. */
  get url(): string {
    const u = new URL(this.target.href);
    u.host = `127.0.0.1:${this.port}`;
    return u.href;
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.links.size;
  }

  /** Frames matching `filter` (a partial TappedFrame, compared field by field; arrays by content). */
  seen(filter: Partial<TappedFrame> & { serverId?: string }): TappedFrame[] {
    const { serverId, ...fields } = filter;
    return this.frames.filter(
      (f) =>
        (serverId === undefined || f.serverIds.includes(serverId)) &&
        Object.entries(fields).every(([k, v]) => {
          const actual = f[k as keyof TappedFrame];
          return Array.isArray(v) ? JSON.stringify(actual) === JSON.stringify(v) : actual === v;
        }),
    );
  }

  /**
   * True when an ack naming `serverId` reached the gateway and was answered (`acked`) on the same
   * connection, i.e. delivery removed the copy (and queued its receipt) before answering.
   */
  ackAnswered(serverId: string): boolean {
    return this.seen({ direction: 'toGateway', type: 'ack', serverId, dropped: false }).some(
      (ack) =>
        this.seen({
          direction: 'toClient',
          type: 'acked',
          requestId: ack.requestId,
          connection: ack.connection,
          dropped: false,
        }).length > 0,
    );
  }

  /** From now on, frames the gateway sends on the open connections are dropped. */
  discardFromGateway(): void {
    for (const link of this.links) link.dropToClient = true;
  }

  /** From now on, frames the client sends on the open connections are dropped. */
  discardFromClient(): void {
    for (const link of this.links) link.dropToGateway = true;
  }

  /** True while an open connection drops frames in either direction. */
  get discarding(): boolean {
    return [...this.links].some((l) => l.dropToClient || l.dropToGateway);
  }

  /** Refuses new connections (closes each at once) until `release`. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
  }

  /** Breaks every open connection: both ends see the TCP connection go, without a close frame. */
  cut(): void {
    if (this.links.size > 0) this.cuts++;
    for (const link of [...this.links]) this.end(link);
  }

  /**
   * Back to plain forwarding: releases a hold, and cuts connections that were dropping frames (the
   * client reconnects on a clean one). Returns true when it cut.
   */
  restore(): boolean {
    this.release();
    if (!this.discarding) return false;
    this.cut();
    return true;
  }

  close(): Promise<void> {
    this.held = true;
    for (const link of [...this.links]) this.end(link);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.held) {
      client.destroy();
      return;
    }
    const gateway = tcpConnect(Number(this.target.port), this.target.hostname);
    const link: Link = { id: ++this.opened, client, gateway, dropToGateway: false, dropToClient: false };
    this.links.add(link);
    const end = () => this.end(link);
    for (const s of [client, gateway]) s.on('error', end).on('close', end);
    const up = new WsSplitter((raw, message) => {
      if (message) this.record(link, 'toGateway', message, link.dropToGateway);
      if (!link.dropToGateway) gateway.write(raw);
    });
    const down = new WsSplitter((raw, message) => {
      if (message) this.record(link, 'toClient', message, link.dropToClient);
      if (!link.dropToClient) client.write(raw);
    });
    client.on('data', (chunk: Buffer) => up.push(chunk));
    gateway.on('data', (chunk: Buffer) => down.push(chunk));
  }

  private record(link: Link, direction: TappedFrame['direction'], bytes: Buffer, dropped: boolean): void {
    let described: Omit<TappedFrame, 'connection' | 'direction' | 'dropped'>;
    try {
      described = direction === 'toGateway' ? describeClientFrame(bytes) : describeServerFrame(bytes);
    } catch {
      described = { type: 'undecodable', requestId: 0, serverIds: [] };
    }
    this.frames.push({ connection: link.id, direction, dropped, ...described });
  }

  private end(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.gateway.destroy();
  }
}
