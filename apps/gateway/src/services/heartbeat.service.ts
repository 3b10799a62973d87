import { CloseCode } from '@tandem/proto';
import type { Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';

export interface HeartbeatPolicy {
  intervalMs: number;
  timeoutMs: number;
}

/**
 * One timer for all sockets: pings every socket each interval and closes (4004, then terminates)
 * those that have shown no sign of life (pong or frame) for the timeout.
 */
export class HeartbeatService {
  private timer: NodeJS.Timeout | undefined;
  private lastPingAt = 0;

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly clock: Clock,
    private readonly policy: HeartbeatPolicy,
  ) {}

  start(): void {
    const tick = Math.max(10, Math.min(this.policy.intervalMs, Math.floor(this.policy.timeoutMs / 3)));
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round (exposed for tests). */
  tick(): void {
    const now = this.clock.now();
    const ping = now - this.lastPingAt >= this.policy.intervalMs;
    if (ping) this.lastPingAt = now;
    for (const conn of this.connections.connections()) {
      if (conn.isClosed) continue;
      if (now - conn.lastSeenAt > this.policy.timeoutMs) {
        conn.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        conn.socket.terminate();
        continue;
      }
      if (ping) conn.socket.ping();
    }
  }
}
