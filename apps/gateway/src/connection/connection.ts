import { randomBytes } from 'node:crypto';
import type { BusSubscription } from '../bus/bus.js';
import type { TokenBucket } from '../limits/token-bucket.js';
import { ViolationCounter } from '../limits/token-bucket.js';
import { ForwardedWindow } from './forwarded-window.js';
import type { SocketPort } from './socket.js';

/** The device a socket has proven to be. */
export interface DeviceIdentity {
  accountId: string;
  deviceId: number;
  isPrimary: boolean;
}

/**
 * The per-socket state machine:
 *
 *   unauthenticated ──authenticate ok──▶ authenticated
 *         │                                  ▲
 *         └──link_start──▶ linking ──link_complete ok──┘
 *
 * and any state ──▶ closed. `authenticating` / `completing` are held while the registry is asked,
 * so a second authenticate or link_complete on the same socket is refused instead of racing.
 */
export type ConnectionState =
  | { kind: 'unauthenticated' }
  | { kind: 'authenticating' }
  | { kind: 'linking'; linkId: string; completing: boolean }
  | { kind: 'authenticated'; device: DeviceIdentity }
  | { kind: 'closed'; code: number };

export interface ConnectionLimits {
  maxBufferedBytes: number;
  slowConsumerCloseCode: number;
  violationsBeforeClose: number;
  violationWindowMs: number;
}

export const deviceKey = (accountId: string, deviceId: number): string => `${accountId}/${deviceId}`;

/** One device socket: its state, subscriptions, timers and the bounded outbound path. */
export class Connection {
  /** Random id, also carried in displace messages so a gateway ignores its own. */
  readonly id = randomBytes(12).toString('base64url');
  state: ConnectionState = { kind: 'unauthenticated' };
  /** The 32-byte challenge nonce sent when the socket opened. */
  readonly nonce: Uint8Array = new Uint8Array(randomBytes(32));
  lastSeenAt: number;
  /** Malformed frames received so far. */
  badFrames = 0;
  /** Requests being processed right now. */
  inFlight = 0;
  /**
   * Drain cursor: every copy queued with a seq <= this was forwarded by a drain (a drain reads the
   * queue in seq order and delivery assigns seqs atomically and increasing per device). Later
   * drains (after a NATS reconnect, or when the stuck-copy sweep finds a copy never pushed) page
   * from here; live copies are not deduplicated by it (they may arrive in any seq order).
   */
  drainedThrough = 0n;
  /** Server ids of the copies last forwarded here; undefined until the first forward. */
  forwarded: ForwardedWindow | undefined;
  /** True while the backlog is being drained; live copies are held meanwhile. */
  draining = false;
  /** When the socket became a device (kept after close, for accounting). */
  authenticatedAt: number | undefined;
  /** Closes the socket unless it authenticates (or starts linking) in time. */
  authTimer: NodeJS.Timeout | undefined;
  /** Set once the socket was sent a verification code: it waits for a person (REGISTRATION_WINDOW_MS). */
  registering = false;
  private readonly subscriptions = new Map<string, BusSubscription>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly closeListeners: Array<(conn: Connection) => void> = [];
  private readonly violations: ViolationCounter;

  constructor(
    readonly socket: SocketPort,
    readonly ip: string,
    readonly openedAt: number,
    private readonly limits: ConnectionLimits,
    /** Frames-per-second bucket of this socket. */
    readonly frameBucket: TokenBucket,
  ) {
    this.lastSeenAt = openedAt;
    this.violations = new ViolationCounter(limits.violationsBeforeClose, limits.violationWindowMs);
  }

  get isClosed(): boolean {
    return this.state.kind === 'closed';
  }

  get device(): DeviceIdentity | undefined {
    return this.state.kind === 'authenticated' ? this.state.device : undefined;
  }

  /**
   * Queues bytes on the socket unless the peer has stopped reading: when the socket's buffer would
   * pass maxBufferedBytes nothing more is queued, the connection is closed (slow consumer) and
   * false is returned.
   */
  send(bytes: Uint8Array): boolean {
    if (this.isClosed || !this.socket.isOpen()) return false;
    if (this.socket.bufferedAmount + bytes.length > this.limits.maxBufferedBytes) {
      // The close frame queues behind the unread data: a client that is merely slow still reads the
      // code; one that stopped reading is terminated by the socket's close timeout (WsSocket).
      this.close(this.limits.slowConsumerCloseCode, 'slow consumer');
      return false;
    }
    this.socket.send(bytes);
    return true;
  }

  /**
   * Records that the copy `serverId` is forwarded now; false when it was among the last
   * `windowSize` copies forwarded here (then it must not be sent again).
   */
  markForwarded(serverId: string, windowSize: number): boolean {
    this.forwarded ??= new ForwardedWindow(windowSize);
    return this.forwarded.add(serverId);
  }

  /** Whether the copy `serverId` is known to have been forwarded on this socket. */
  wasForwarded(serverId: string, seq: bigint): boolean {
    return seq <= this.drainedThrough || this.forwarded?.has(serverId) === true;
  }

  /** Records a rate-limit violation; true when the socket should now be closed. */
  recordViolation(now: number): boolean {
    return this.violations.record(now);
  }

  /** Keeps a bus subscription for the socket's lifetime (replacing any under the same name). */
  addSubscription(name: string, sub: BusSubscription): void {
    if (this.isClosed) {
      sub.unsubscribe();
      return;
    }
    this.subscriptions.get(name)?.unsubscribe();
    this.subscriptions.set(name, sub);
  }

  removeSubscription(name: string): void {
    this.subscriptions.get(name)?.unsubscribe();
    this.subscriptions.delete(name);
  }

  /** A timer cancelled when the socket closes. */
  setTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref(); // a socket's timers never keep the process alive on their own
    this.timers.add(t);
    return t;
  }

  clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  onClose(listener: (conn: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  /** Closes the socket with `code` (idempotent) and releases its subscriptions and timers. */
  close(code: number, reason: string): void {
    if (this.isClosed) return;
    this.socket.close(code, reason);
    this.release(code);
  }

  /** The socket closed from the other side (or after close()): release everything. */
  release(code = 1006): void {
    if (this.state.kind === 'closed' && this.subscriptions.size === 0 && this.timers.size === 0) return;
    if (this.state.kind !== 'closed') this.state = { kind: 'closed', code };
    for (const sub of this.subscriptions.values()) sub.unsubscribe();
    this.subscriptions.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const listeners = this.closeListeners.splice(0);
    for (const l of listeners) l(this);
  }
}
