import {
  type Challenge,
  type ClientFrame,
  ClientFrameSchema,
  create,
  decodeServerFrame,
  encodeClientFrame,
  type ServerFrame,
  WEBSOCKET_SUBPROTOCOL,
} from '@tandem/proto';
import WebSocket from 'ws';

export type ClientBody = ClientFrame['body'];

export interface Closed {
  code: number;
  reason: string;
}

/** A device-side test client over a real socket: request/response by request id, pushes collected. */
export class TestClient {
  readonly pushes: ServerFrame[] = [];
  readonly all: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  closeInfo: Closed | undefined;
  challenge!: Challenge;
  /** When set, incoming frames are only counted, not decoded or kept (load and fuzz tests). */
  quiet = false;
  received = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, (f: ServerFrame) => void>();
  private readonly watchers = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.watchers) w();
      });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      this.received++;
      if (this.quiet) return;
      let frame: ServerFrame;
      try {
        frame = decodeServerFrame(new Uint8Array(data));
      } catch {
        return;
      }
      this.all.push(frame);
      if (frame.requestId !== 0 && this.waiting.has(frame.requestId)) {
        const resolve = this.waiting.get(frame.requestId)!;
        this.waiting.delete(frame.requestId);
        resolve(frame);
      } else {
        this.pushes.push(frame);
      }
      for (const w of this.watchers) w();
    });
  }

  /** Connects and waits for the challenge push. */
  static async connect(
    url: string,
    options: { protocols?: string[]; autoPong?: boolean; waitChallenge?: boolean } = {},
  ): Promise<TestClient> {
    const ws = new WebSocket(url, options.protocols ?? [WEBSOCKET_SUBPROTOCOL], {
      autoPong: options.autoPong ?? true,
      maxPayload: 8 * 1024 * 1024,
    });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (options.waitChallenge ?? true) {
      const first = await client.waitPush((f) => f.body.case === 'challenge' || f.body.case === 'error');
      if (first.body.case === 'challenge') client.challenge = first.body.value;
    }
    return client;
  }

  /** Sends a request and resolves with its answer (the response case or error). */
  request(body: ClientBody, timeoutMs = 5000): Promise<ServerFrame> {
    const requestId = this.nextId++;
    const bytes = encodeClientFrame(create(ClientFrameSchema, { requestId, body }));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new Error(`no answer to ${body.case} #${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(requestId, (f) => {
        clearTimeout(t);
        resolve(f);
      });
      this.ws.send(bytes);
    });
  }

  /** Sends a request without waiting for its answer; returns its id. */
  fire(body: ClientBody): number {
    const requestId = this.nextId++;
    this.ws.send(encodeClientFrame(create(ClientFrameSchema, { requestId, body })));
    return requestId;
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Resolves with the first push (already received or future) matching `pred`. */
  waitPush(pred: (f: ServerFrame) => boolean, timeoutMs = 5000, what = 'push'): Promise<ServerFrame> {
    return this.waitUntil(() => this.pushes.find(pred), timeoutMs, what);
  }

  waitUntil<T>(check: () => T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const now = check();
      if (now !== undefined) return resolve(now);
      const watcher = () => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  /** Round-trip time of one ping, in ms. */
  async pingRtt(timeoutMs = 5000): Promise<number> {
    const t0 = performance.now();
    const f = await this.request(
      { case: 'ping', value: { $typeName: 'tandem.v1.Ping', timestampMs: 1n } },
      timeoutMs,
    );
    if (f.body.case !== 'pong') throw new Error(`ping answered with ${f.body.case}`);
    return performance.now() - t0;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

export const isOpen = (c: TestClient) => c.ws.readyState === WebSocket.OPEN;
