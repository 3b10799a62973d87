import {
  CloseCode,
  create,
  type Deliver,
  decodeBus,
  ErrorCode,
  encodeBus,
  type InboxMessage,
  InboxMessageSchema,
  QueueEmptySchema,
  RevokeReason,
  ServerErrorSchema,
  type SubjectCatalog,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import { type Bus, BusUnavailableError } from '../bus/bus.js';
import type { DeliveryClient } from '../bus/delivery.client.js';
import type { Connection, DeviceIdentity } from '../connection/connection.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';
import type { Outbound } from '../connection/outbound.js';

export interface SessionPolicy {
  drainPageSize: number;
  /** The drain waits for the socket buffer to fall below this before fetching the next page. */
  drainBufferLowWater: number;
  /** How long the drain waits for a socket buffer to empty before giving up on the reader. */
  drainStallMs: number;
  /** Live copies held while the backlog drains; past it the drain makes one more pass instead. */
  maxPendingLive: number;
  /**
   * Server ids remembered per socket to forward each copy once (ForwardedWindow). Keep it at
   * least 2 × maxPendingLive: a held live copy that the drain also forwarded came in the drain's
   * last pages (more live copies than maxPendingLive overflow the hold and cause another pass),
   * so its id is still in the window at the hand-over. Past the window a duplicate can reach the
   * client, which drops it by server id.
   */
  forwardedWindow: number;
}

interface DrainState {
  pending: Deliver[];
  overflow: boolean;
}

/** The text of the DEVICE_REVOKED error a revoked device is sent, by reason. */
const REVOKED_MESSAGES: Record<RevokeReason, string> = {
  [RevokeReason.UNSPECIFIED]: 'device was unlinked',
  [RevokeReason.UNLINKED_BY_PRIMARY]: 'device was unlinked by the primary',
  [RevokeReason.UNLINKED_BY_SELF]: 'device unlinked itself',
  [RevokeReason.PRIMARY_INACTIVE]: 'device was unlinked because the primary was not seen for too long',
};

/**
 * A socket becoming a device: subscribe the device's inbox FIRST (and flush, so NATS has the
 * interest), tell other holders of the device to let go (displace), then drain the backlog from
 * delivery in pages (by seq, from the connection's drain cursor), forward copies, and push
 * queue_empty. Live copies arriving during the drain are held and forwarded afterwards.
 *
 * Every copy — drained or live, in whatever seq order it arrives — is forwarded unless its server
 * id is among the last `forwardedWindow` ids forwarded on the socket. Order is not the gateway's
 * business: copies of one device may reach it out of seq order (two delivery instances publishing
 * for one device, scripts re-run after NOSCRIPT), and the client restores order from seq. The
 * client also drops duplicates by server id.
 */
export class DeviceSessionService {
  private readonly drains = new WeakMap<Connection, DrainState>();
  /** Drains in progress, awaited by graceful shutdown. */
  readonly running = new Set<Promise<void>>();

  constructor(
    private readonly bus: Bus,
    private readonly subjects: SubjectCatalog,
    private readonly delivery: DeliveryClient,
    private readonly connections: ConnectionRegistry,
    private readonly outbound: Outbound,
    private readonly logger: Logger,
    private readonly policy: SessionPolicy,
  ) {}

  /**
   * Makes `conn` the device's socket. Call before answering authenticate / link_complete; call
   * startDrain after the answer is queued.
   */
  async attach(conn: Connection, device: DeviceIdentity): Promise<void> {
    const inbox = this.subjects.inbox(device.accountId, device.deviceId);
    conn.state = { kind: 'authenticated', device };
    conn.draining = true;
    this.drains.set(conn, { pending: [], overflow: false });
    try {
      conn.addSubscription(
        'inbox',
        this.bus.subscribe(inbox.subject, (data) => this.onInbox(conn, data)),
      );
      await this.bus.flush();
      if (conn.isClosed) return;
      // Other gateways (and this one) holding the device close their socket on this message.
      this.bus.publish(
        inbox.subject,
        encodeBus(
          inbox,
          create(InboxMessageSchema, { kind: { case: 'displace', value: { connectionId: conn.id } } }),
        ),
      );
    } catch (err) {
      // Without its inbox the socket would silently miss messages: give it up, the device reconnects.
      conn.close(CloseCode.INTERNAL, 'cannot subscribe the inbox');
      throw err;
    }
    const displaced = this.connections.bindDevice(conn);
    displaced?.close(CloseCode.DISPLACED, 'displaced by a newer connection');
  }

  /** Drains the backlog in the background (tracked for shutdown). */
  startDrain(conn: Connection): void {
    const p = this.drain(conn).finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /**
   * Drains again from the connection's drain cursor (after a NATS reconnect, live pushes published
   * while the connection was down were missed, but the copies are still queued; the stuck-copy
   * sweep does the same for a copy whose push never came). Copies already forwarded are skipped by
   * server id; live copies are held meanwhile as during the first drain.
   */
  redrain(conn: Connection): void {
    if (conn.isClosed || !conn.device || conn.draining) return;
    conn.draining = true;
    this.drains.set(conn, { pending: [], overflow: false });
    this.startDrain(conn);
  }

  private onInbox(conn: Connection, data: Uint8Array): void {
    if (conn.isClosed) return;
    const device = conn.device;
    if (!device) return;
    let msg: InboxMessage;
    try {
      msg = decodeBus(this.subjects.inbox(device.accountId, device.deviceId), data);
    } catch (err) {
      this.logger.warn({ err, conn: conn.id }, 'malformed inbox message dropped');
      return;
    }
    switch (msg.kind.case) {
      case 'deliver':
        this.onLiveCopy(conn, msg.kind.value);
        return;
      case 'displace':
        if (msg.kind.value.connectionId !== conn.id)
          conn.close(CloseCode.DISPLACED, 'displaced by a newer connection');
        return;
      case 'revoked':
        this.revoke(conn, msg.kind.value.reason);
        return;
      default:
        return;
    }
  }

  /** Closes a revoked device's socket (error push saying why, then close 4003). */
  revoke(conn: Connection, reason: RevokeReason = RevokeReason.UNSPECIFIED): void {
    this.outbound.push(conn, {
      case: 'error',
      value: create(ServerErrorSchema, { code: ErrorCode.DEVICE_REVOKED, message: REVOKED_MESSAGES[reason] }),
    });
    conn.close(CloseCode.DEVICE_REVOKED, 'device revoked');
  }

  private onLiveCopy(conn: Connection, copy: Deliver): void {
    const drain = this.drains.get(conn);
    if (conn.draining && drain) {
      if (drain.pending.length < this.policy.maxPendingLive) drain.pending.push(copy);
      else drain.overflow = true;
      return;
    }
    this.forward(conn, copy);
  }

  /** Pushes `copy` unless its server id was forwarded on this socket already. */
  private forward(conn: Connection, copy: Deliver): void {
    if (!conn.markForwarded(copy.serverId, this.policy.forwardedWindow)) return;
    this.outbound.push(conn, { case: 'deliver', value: copy });
  }

  private async drain(conn: Connection): Promise<void> {
    const device = conn.device;
    const state = this.drains.get(conn);
    if (!device || !state) return;
    try {
      for (;;) {
        await this.drainPass(conn, device);
        if (conn.isClosed) return;
        if (!state.overflow) break;
        state.overflow = false;
        state.pending = [];
      }
      conn.draining = false;
      const held = state.pending.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
      state.pending = [];
      // Regardless of seq: a held copy is new unless its server id was forwarded (by the drain).
      for (const copy of held) this.forward(conn, copy);
      this.outbound.push(conn, { case: 'queueEmpty', value: create(QueueEmptySchema, {}) });
    } catch (err) {
      if (conn.isClosed) return;
      this.logger.error({ err, conn: conn.id }, 'backlog drain failed');
      conn.close(CloseCode.INTERNAL, 'backlog drain failed');
    }
  }

  private async drainPass(conn: Connection, device: DeviceIdentity): Promise<void> {
    for (;;) {
      if (conn.isClosed) return;
      await this.waitForBuffer(conn);
      if (conn.isClosed) return;
      const page = await this.fetchPage(device, conn.drainedThrough);
      for (const copy of page.items) this.forward(conn, copy);
      const last = page.items.at(-1);
      // Pages are in increasing seq after the cursor: everything queued up to `last` is forwarded.
      if (last && last.seq > conn.drainedThrough) conn.drainedThrough = last.seq;
      if (!page.more || page.items.length === 0) return;
    }
  }

  /** One page, retried twice (after 250 ms, then 1 s) when delivery is slow or briefly away. */
  private async fetchPage(device: DeviceIdentity, afterSeq: bigint) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.delivery.fetchPage(device, afterSeq, this.policy.drainPageSize);
      } catch (err) {
        if (!(err instanceof BusUnavailableError) || attempt >= 2) throw err;
        await new Promise((r) => setTimeout(r, attempt === 0 ? 250 : 1000));
      }
    }
  }

  private async waitForBuffer(conn: Connection): Promise<void> {
    const deadline = Date.now() + this.policy.drainStallMs;
    while (!conn.isClosed && conn.socket.bufferedAmount > this.policy.drainBufferLowWater) {
      if (Date.now() > deadline) {
        conn.close(CloseCode.SLOW_READER, 'slow reader');
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
