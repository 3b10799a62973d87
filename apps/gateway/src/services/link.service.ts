import {
  CloseCode,
  create,
  decodeBus,
  ErrorCode,
  type LinkApprove,
  type LinkApproved,
  type LinkCancel,
  type LinkCancelled,
  LinkCancelledSchema,
  LinkCancelReason,
  LinkCancelSchema,
  type LinkCode,
  type LinkComplete,
  type LinkCompleted,
  type LinkRelay,
  type LinkStart,
  type SubjectCatalog,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { Bus } from '../bus/bus.js';
import type { RegistryClient } from '../bus/registry.client.js';
import type { Clock } from '../clock.js';
import type { Connection, DeviceIdentity } from '../connection/connection.js';
import type { Outbound } from '../connection/outbound.js';
import { GatewayError } from '../errors.js';

import type { DeviceSessionService } from './device-session.service.js';

/**
 * QR linking. The companion's unauthenticated socket sends link_start; the gateway subscribes the
 * link's subject for that socket before answering, so the primary's approval (relayed by the
 * registry on the link subject, from any gateway) reaches it as link_payload. link_complete then
 * turns the socket into the new device's authenticated socket.
 */
export class LinkService {
  /** Linking sockets whose session is still open (abandoned when the socket closes). */
  private readonly pending = new WeakSet<Connection>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly bus: Bus,
    private readonly subjects: SubjectCatalog,
    private readonly outbound: Outbound,
    private readonly sessions: DeviceSessionService,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Companion: open a link session. The caller has checked the socket is unauthenticated. */
  async start(conn: Connection, req: LinkStart): Promise<LinkCode> {
    const code = await this.registry.linkCreate(req);
    if (conn.isClosed) return code;
    const subject = this.subjects.link(code.linkId);
    conn.addSubscription(
      'link',
      this.bus.subscribe(subject.subject, (data) => this.onRelay(conn, code.linkId, data)),
    );
    await this.bus.flush();
    conn.state = { kind: 'linking', linkId: code.linkId, completing: false };
    const ttl = Math.max(0, Number(code.expiresAtMs) - this.clock.now()) + 1000;
    conn.setTimer(ttl, () => {
      if (conn.state.kind !== 'linking' || conn.state.completing) return;
      this.endLink(conn, code.linkId, LinkCancelReason.EXPIRED);
    });
    // A companion that goes away without completing abandons its session.
    conn.onClose((c) => {
      if (c.state.kind === 'closed' && this.pending.has(c)) this.abandon(code.linkId);
    });
    this.pending.add(conn);
    return code;
  }

  /** Companion: counter-signed keys; on success the socket is the new device's. */
  async complete(
    conn: Connection,
    req: LinkComplete,
  ): Promise<{ result: LinkCompleted; device: DeviceIdentity }> {
    const state = conn.state;
    if (state.kind !== 'linking' || state.completing) {
      throw new GatewayError(ErrorCode.FORBIDDEN, 'no pending link on this socket');
    }
    if (state.linkId !== req.linkId)
      throw new GatewayError(ErrorCode.FORBIDDEN, 'link id is not this socket’s');
    state.completing = true;
    let result: LinkCompleted;
    try {
      result = await this.registry.linkComplete(req);
    } catch (err) {
      if (conn.state === state) state.completing = false;
      throw err;
    }
    this.pending.delete(conn);
    conn.removeSubscription('link');
    const device: DeviceIdentity = {
      accountId: result.accountId,
      deviceId: result.deviceId,
      isPrimary: false,
    };
    if (!conn.isClosed) await this.sessions.attach(conn, device);
    return { result, device };
  }

  /** Primary: approve a scanned link. */
  approve(requester: DeviceIdentity, req: LinkApprove): Promise<LinkApproved> {
    return this.registry.linkApprove(requester, req);
  }

  /** Either side: cancel. On the companion's socket the socket is closed after the answer. */
  async cancel(conn: Connection, req: LinkCancel): Promise<{ result: LinkCancelled; closeAfter: boolean }> {
    const state = conn.state;
    if (state.kind === 'authenticated') {
      return { result: await this.registry.linkCancel(state.device, req), closeAfter: false };
    }
    if (state.kind !== 'linking' || state.linkId !== req.linkId || state.completing) {
      throw new GatewayError(ErrorCode.FORBIDDEN, 'no such pending link on this socket');
    }
    // The registry also relays `cancelled` on the link subject; this socket gets the answer instead.
    conn.removeSubscription('link');
    this.pending.delete(conn);
    let result: LinkCancelled;
    try {
      result = await this.registry.linkCancel(undefined, req);
    } catch (err) {
      // The session is over either way (used, expired or cancelled): close after the error answer.
      conn.setTimer(0, () => conn.close(CloseCode.NORMAL, 'link ended'));
      throw err;
    }
    return { result, closeAfter: true };
  }

  private onRelay(conn: Connection, linkId: string, data: Uint8Array): void {
    let relay: LinkRelay;
    try {
      relay = decodeBus(this.subjects.link(linkId), data);
    } catch (err) {
      this.logger.warn({ err, conn: conn.id }, 'malformed link relay dropped');
      return;
    }
    if (relay.kind.case === 'payload') {
      this.outbound.push(conn, { case: 'linkPayload', value: relay.kind.value });
    } else if (relay.kind.case === 'cancelled') {
      this.pending.delete(conn);
      this.outbound.push(conn, { case: 'linkCancelled', value: relay.kind.value });
      conn.close(CloseCode.NORMAL, 'link cancelled');
    }
  }

  private endLink(conn: Connection, linkId: string, reason: LinkCancelReason): void {
    this.pending.delete(conn);
    this.outbound.push(conn, {
      case: 'linkCancelled',
      value: create(LinkCancelledSchema, { linkId, reason }),
    });
    conn.close(CloseCode.NORMAL, 'link expired');
  }

  private abandon(linkId: string): void {
    this.registry
      .linkCancel(undefined, create(LinkCancelSchema, { linkId }))
      .catch(() => undefined /* already used, expired or registry away: nothing to undo */);
  }
}
