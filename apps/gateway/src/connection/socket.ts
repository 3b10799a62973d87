import type { WebSocket } from 'ws';

/** The socket as the gateway's logic sees it; WsSocket adapts a `ws` WebSocket, tests pass a fake. */
export interface SocketPort {
  /** Bytes queued by the socket but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  isOpen(): boolean;
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Destroys the connection without a closing handshake. */
  terminate(): void;
  ping(): void;
}

const OPEN = 1;

export class WsSocket implements SocketPort {
  constructor(private readonly ws: WebSocket) {}

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  isOpen(): boolean {
    return this.ws.readyState === OPEN;
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState > OPEN) return;
    this.ws.close(code, reason);
    // A peer that never answers the closing handshake (e.g. a paused reader) must not pin the socket
    // and its buffered bytes for long.
    const ws = this.ws;
    setTimeout(() => {
      if (ws.readyState !== 3) ws.terminate();
    }, 2_000).unref();
  }

  terminate(): void {
    this.ws.terminate();
  }

  ping(): void {
    if (this.ws.readyState === OPEN) this.ws.ping();
  }
}
