import type { SocketPort } from '../../src/connection/socket.js';

/** An in-memory socket: records what the gateway sends and how it closes. */
export class FakeSocket implements SocketPort {
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  pings = 0;

  isOpen(): boolean {
    return this.closed === undefined && !this.terminated;
  }
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  terminate(): void {
    this.terminated = true;
  }
  ping(): void {
    this.pings++;
  }
}
