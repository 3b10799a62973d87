import {
  type Challenge,
  CLIENT_FRAME_RESPONSES,
  type ClientFrameCase,
  ClientFrameSchema,
  create,
  decodeServerFrame,
  encodeClientFrame,
  isProtocolError,
  type MessageInitShape,
  type ResponseCase,
  type ServerFrame,
  type ServerFrameBody,
  WEBSOCKET_SUBPROTOCOL,
} from '@tandem/proto';
import { fromProtocolError, fromServerError, TandemError } from './errors.js';

/** The subset of the WebSocket API the SDK uses: the browser's WebSocket and `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The browser's WebSocket when there is one, else the `ws` package (Node). */
export async function defaultWebSocket(): Promise<WebSocketConstructor> {
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return native;
  const mod = (await import('ws')) as unknown as { default: WebSocketConstructor };
  return mod.default;
}

type ClientBodyInit = NonNullable<MessageInitShape<typeof ClientFrameSchema>['body']>;
/** A request body as `create` accepts it: plain objects for nested messages. */
export type Body<C extends ClientFrameCase> = Extract<ClientBodyInit, { case: C }>['value'];
export type Reply<C extends ClientFrameCase> = ServerFrameBody<ResponseCase<C>>;

export interface ConnectionOptions {
  WebSocket: WebSocketConstructor;
  /** How long to wait for the socket to open and the server's challenge. */
  connectTimeoutMs?: number;
  /** Default per-request timeout. */
  requestTimeoutMs?: number;
}

interface Pending {
  expect: string;
  resolve(value: unknown): void;
  reject(error: TandemError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One WebSocket to a gateway: binary protobuf frames, requests paired with responses by
 * request_id, pushes (request_id 0) handed to `onPush`. Opening resolves once the server's
 * challenge has arrived.
 */
export class Connection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  onPush: (frame: ServerFrame) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};

  private constructor(
    private readonly socket: WebSocketLike,
    readonly challenge: Challenge,
    private readonly requestTimeoutMs: number,
  ) {}

  static open(url: string, options: ConnectionOptions): Promise<Connection> {
    const socket = new options.WebSocket(url, WEBSOCKET_SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    return new Promise<Connection>((resolve, reject) => {
      let conn: Connection | undefined;
      const timer = setTimeout(() => {
        socket.close();
        reject(new TandemError('TIMEOUT', `no challenge from ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.onerror = () => {
        if (!conn) {
          clearTimeout(timer);
          reject(new TandemError('DISCONNECTED', `cannot connect to ${url}`));
        }
      };
      socket.onclose = (ev) => {
        if (conn) conn.handleClose(ev.code, ev.reason);
        else {
          clearTimeout(timer);
          reject(
            new TandemError('DISCONNECTED', `socket closed before the challenge (${ev.code} ${ev.reason})`),
          );
        }
      };
      socket.onmessage = (ev) => {
        let frame: ServerFrame;
        try {
          frame = decodeServerFrame(toBytes(ev.data));
        } catch (err) {
          // A server that sends an invalid frame is broken or hostile: drop the connection.
          socket.close(1002, 'invalid frame');
          if (!conn)
            reject(isProtocolError(err) ? fromProtocolError(err) : new TandemError('BAD_FRAME', String(err)));
          return;
        }
        if (conn) {
          conn.handleFrame(frame);
        } else if (frame.body.case === 'challenge') {
          clearTimeout(timer);
          conn = new Connection(socket, frame.body.value, options.requestTimeoutMs ?? 15_000);
          resolve(conn);
        }
      };
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Sends a request and resolves with its response body; an error frame rejects with TandemError. */
  request<C extends ClientFrameCase>(kind: C, value: Body<C>, timeoutMs?: number): Promise<Reply<C>> {
    if (this.closed) return Promise.reject(new TandemError('DISCONNECTED', 'the connection is closed'));
    const requestId = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    let bytes: Uint8Array;
    try {
      bytes = encodeClientFrame(
        create(ClientFrameSchema, { requestId, body: { case: kind, value } as never }),
      );
    } catch (err) {
      return Promise.reject(isProtocolError(err) ? fromProtocolError(err) : err);
    }
    const expect: string = CLIENT_FRAME_RESPONSES[kind];
    return new Promise<Reply<C>>((resolve, reject) => {
      const ms = timeoutMs ?? this.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new TandemError('TIMEOUT', `no answer to ${kind} within ${ms} ms`));
      }, ms);
      this.pending.set(requestId, { expect, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.send(bytes);
    });
  }

  close(code = 1000, reason = 'bye'): void {
    if (this.closed) return;
    this.socket.close(code, reason);
    this.handleClose(code, reason);
  }

  private handleFrame(frame: ServerFrame): void {
    if (frame.requestId === 0) {
      this.onPush(frame);
      return;
    }
    const p = this.pending.get(frame.requestId);
    if (!p) return; // a response to a request that already timed out
    this.pending.delete(frame.requestId);
    clearTimeout(p.timer);
    if (frame.body.case === 'error') p.reject(fromServerError(frame.body.value));
    else if (frame.body.case === p.expect) p.resolve(frame.body.value);
    else p.reject(new TandemError('BAD_FRAME', `expected ${p.expect}, got ${frame.body.case}`));
  }

  private handleClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new TandemError('DISCONNECTED', `connection closed (${code} ${reason})`));
    }
    this.pending.clear();
    this.onClose(code, reason);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    // ws delivers fragmented messages as Buffer[] when binaryType is 'fragments'; not used, but safe.
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  return new Uint8Array(0);
}
