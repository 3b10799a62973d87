import {
  AckedSchema,
  type Authenticate,
  AuthenticatedSchema,
  ChallengeSchema,
  type ClientFrame,
  type ClientFrameCase,
  CloseCode,
  create,
  decodeClientFrame,
  ErrorCode,
  GoingAwaySchema,
  PongSchema,
  PRIMARY_ONLY_CLIENT_CASES,
  PROTOCOL_VERSION,
  UNAUTHENTICATED_CLIENT_CASES,
  WEBSOCKET_SUBPROTOCOL,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { DeliveryClient } from '../bus/delivery.client.js';
import type { RegistryClient } from '../bus/registry.client.js';
import type { Clock } from '../clock.js';
import type { GatewayConfig } from '../config.js';
import { Connection, type DeviceIdentity, deviceKey } from '../connection/connection.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';
import type { Outbound, ServerBody } from '../connection/outbound.js';
import type { SocketPort } from '../connection/socket.js';
import { GatewayError, toWireError, type WireError } from '../errors.js';
import { type RateLimiter, TokenBucket } from '../limits/token-bucket.js';
import type { GatewayMetrics } from '../metrics.js';

import type { AuthService } from './auth.service.js';
import type { DeviceListCache } from './device-list-cache.js';
import type { DeviceSessionService } from './device-session.service.js';
import type { LinkService } from './link.service.js';
import type { SendService } from './send.service.js';

/** Cases that cost the server real work before the socket is a device: limited per client IP. */
const PREAUTH_LIMITED = new Set<ClientFrameCase>([
  'authenticate',
  'registerRequestCode',
  'registerVerify',
  'linkStart',
  'linkComplete',
]);
/** Cases refused on a socket that already is a device. */
const NOT_WHEN_AUTHENTICATED = new Set<ClientFrameCase>([
  'authenticate',
  'registerRequestCode',
  'registerVerify',
  'linkStart',
  'linkComplete',
]);
/** Cases a companion's linking socket may send while it waits. */
const LINKING_CASES = new Set<ClientFrameCase>(['ping', 'linkComplete', 'linkCancel']);
/** Requests one socket may have in flight; past it frames are refused with RATE_LIMITED. */
const MAX_IN_FLIGHT = 32;

type Reply = { body: ServerBody; after?: () => void };

/**
 * The request_id of a frame that does not decode, when it starts as encoders write it (field 1,
 * varint, first), so the device can match the BAD_FRAME answer to its request; 0 otherwise.
 */
export function peekRequestId(bytes: Uint8Array): number {
  if (bytes[0] !== 0x08) return 0;
  let value = 0;
  for (let i = 1; i < Math.min(bytes.length, 6); i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * 2 ** (7 * (i - 1));
    if ((b & 0x80) === 0) return value <= 0xffff_ffff ? value : 0;
  }
  return 0;
}

export interface SessionDeps {
  config: GatewayConfig;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  outbound: Outbound;
  connections: ConnectionRegistry;
  auth: AuthService;
  sessions: DeviceSessionService;
  send: SendService;
  link: LinkService;
  registry: RegistryClient;
  delivery: DeliveryClient;
  lists: DeviceListCache;
  connectLimiter: RateLimiter;
  preauthLimiter: RateLimiter;
  sendLimiter: RateLimiter;
}

/**
 * The per-socket protocol: challenge on open, frame decoding and validation, the state machine's
 * gate (which frames each state accepts), rate limits, dispatch to the services, one answer per
 * request, errors mapped in one place, and the closes that follow protocol violations.
 */
export class SessionService {
  private draining = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly d: SessionDeps) {}

  get isDraining(): boolean {
    return this.draining;
  }

  /** A socket opened. Returns its connection, or undefined when it was refused (and closed). */
  open(socket: SocketPort, ip: string, offeredProtocols: readonly string[] = []): Connection | undefined {
    const { config, clock, metrics, outbound } = this.d;
    const now = clock.now();
    const conn = new Connection(
      socket,
      ip,
      now,
      {
        maxBufferedBytes: config.MAX_BUFFERED_BYTES,
        slowConsumerCloseCode: CloseCode.SLOW_READER,
        violationsBeforeClose: config.RATE_VIOLATIONS_BEFORE_CLOSE,
        violationWindowMs: config.RATE_VIOLATION_WINDOW_MS,
      },
      new TokenBucket({ capacity: config.FRAME_RATE_BURST, refillPerSec: config.FRAME_RATE_PER_SEC }, now),
    );
    if (this.draining) {
      outbound.push(conn, {
        case: 'goingAway',
        value: create(GoingAwaySchema, { reconnectDelayMs: this.reconnectDelay() }),
      });
      conn.close(CloseCode.SERVICE_RESTART, 'going away');
      return undefined;
    }
    if (offeredProtocols.length > 0 && !offeredProtocols.includes(WEBSOCKET_SUBPROTOCOL)) {
      this.fail(conn, 0, { code: ErrorCode.UNSUPPORTED_VERSION, message: `offer ${WEBSOCKET_SUBPROTOCOL}` });
      this.closeWith(conn, CloseCode.UNSUPPORTED_VERSION, 'unsupported protocol version');
      return undefined;
    }
    const allowed = this.d.connectLimiter.take(ip);
    if (!allowed.allowed) {
      this.fail(conn, 0, {
        code: ErrorCode.RATE_LIMITED,
        message: 'too many connections',
        retryAfterMs: allowed.retryAfterMs,
      });
      this.closeWith(conn, CloseCode.RATE_LIMITED, 'too many connections');
      return undefined;
    }
    this.d.connections.add(conn);
    metrics.connections.inc();
    conn.onClose((c) => {
      metrics.connections.dec();
      if (c.state.kind === 'closed') metrics.closes.inc({ code: String(c.state.code) });
      if (c.authenticatedAt !== undefined) metrics.authenticated.dec();
      this.d.logger.debug(
        {
          conn: c.id,
          code: c.state.kind === 'closed' ? c.state.code : undefined,
          device: c.authenticatedAt !== undefined,
        },
        'socket closed',
      );
    });
    outbound.push(conn, {
      case: 'challenge',
      value: create(ChallengeSchema, {
        nonce: conn.nonce,
        realm: config.GATEWAY_REALM,
        serverTimeMs: BigInt(now),
        protocolVersion: PROTOCOL_VERSION,
      }),
    });
    this.armAuthTimer(conn);
    return conn;
  }

  /** The socket closed (either side). */
  closed(conn: Connection, code: number): void {
    conn.release(code);
  }

  /** Any sign of life from the peer (pong, frame). */
  touched(conn: Connection): void {
    conn.lastSeenAt = this.d.clock.now();
  }

  /** One WebSocket message. Never throws; every failure becomes an error frame or a close. */
  message(conn: Connection, data: Uint8Array, isBinary: boolean): void {
    if (conn.isClosed) return;
    const now = this.d.clock.now();
    conn.lastSeenAt = now;
    if (!isBinary) {
      this.fail(conn, 0, { code: ErrorCode.BAD_FRAME, message: 'text frames are not part of the protocol' });
      this.closeWith(conn, CloseCode.PROTOCOL_VIOLATION, 'text frame');
      return;
    }
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(data);
    } catch (err) {
      this.d.metrics.framesIn.inc({ type: 'malformed' });
      const wire = toWireError(err);
      this.fail(conn, peekRequestId(data), wire);
      if (wire.code === ErrorCode.FRAME_TOO_LARGE) {
        this.closeWith(conn, CloseCode.FRAME_TOO_LARGE, 'frame too large');
      } else if (++conn.badFrames >= this.d.config.BAD_FRAMES_BEFORE_CLOSE) {
        this.closeWith(conn, CloseCode.PROTOCOL_VIOLATION, 'too many bad frames');
      }
      return;
    }
    const kind = frame.body.case;
    if (kind === undefined) {
      this.fail(conn, frame.requestId, { code: ErrorCode.BAD_FRAME, message: 'frame has no body' });
      return;
    }
    this.d.metrics.framesIn.inc({ type: kind });
    const limited = conn.frameBucket.take(now);
    if (!limited.allowed) {
      this.rateLimited(conn, frame.requestId, limited.retryAfterMs, now);
      return;
    }
    if (conn.inFlight >= MAX_IN_FLIGHT) {
      this.rateLimited(conn, frame.requestId, 100, now);
      return;
    }
    const gate = this.gate(conn, kind);
    if (gate) {
      this.fail(conn, frame.requestId, gate);
      return;
    }
    if (PREAUTH_LIMITED.has(kind)) {
      const r = this.d.preauthLimiter.take(conn.ip);
      if (!r.allowed) {
        this.rateLimited(conn, frame.requestId, r.retryAfterMs, now);
        return;
      }
    }
    this.dispatch(conn, frame);
  }

  /** Graceful shutdown: refuse new sockets, going_away + 1012 to every socket, wait for in-flight work. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.draining = true;
    for (const conn of this.d.connections.connections()) {
      this.d.outbound.push(conn, {
        case: 'goingAway',
        value: create(GoingAwaySchema, { reconnectDelayMs: this.reconnectDelay() }),
      });
      this.closeWith(conn, CloseCode.SERVICE_RESTART, 'going away');
    }
    const pending = [...this.inflight, ...this.d.sessions.running];
    if (pending.length === 0) return;
    await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  // ------------------------------------------------------------------------------------------

  private gate(conn: Connection, kind: ClientFrameCase): { code: ErrorCode; message: string } | undefined {
    const state = conn.state;
    switch (state.kind) {
      case 'closed':
        return { code: ErrorCode.FORBIDDEN, message: 'socket is closing' };
      case 'authenticated':
        if (NOT_WHEN_AUTHENTICATED.has(kind))
          return { code: ErrorCode.FORBIDDEN, message: 'socket is already authenticated' };
        if (PRIMARY_ONLY_CLIENT_CASES.has(kind) && !state.device.isPrimary) {
          return { code: ErrorCode.NOT_PRIMARY, message: 'only the primary device may do this' };
        }
        return undefined;
      case 'linking':
        if (!LINKING_CASES.has(kind))
          return { code: ErrorCode.FORBIDDEN, message: 'socket is waiting for a link' };
        return undefined;
      case 'authenticating':
        // The documented answer (docs/protocol.md, "Socket states"): the socket is not
        // authenticated yet; the client waits for the answer to its authenticate and sends again.
        if (kind === 'ping') return undefined;
        return {
          code: ErrorCode.UNAUTHENTICATED,
          message: 'authentication in progress: wait for the answer to authenticate, then send again',
        };
      case 'unauthenticated':
        if (!UNAUTHENTICATED_CLIENT_CASES.has(kind))
          return { code: ErrorCode.UNAUTHENTICATED, message: 'authenticate first' };
        if (kind === 'linkComplete' || kind === 'linkCancel') {
          return { code: ErrorCode.FORBIDDEN, message: 'no pending link on this socket' };
        }
        return undefined;
    }
  }

  private dispatch(conn: Connection, frame: ClientFrame): void {
    conn.inFlight++;
    const started = performance.now();
    const p = this.handle(conn, frame)
      .then(
        (reply) => {
          this.d.outbound.reply(conn, frame.requestId, reply.body);
          reply.after?.();
        },
        (err: unknown) => this.onHandlerError(conn, frame, err),
      )
      .finally(() => {
        conn.inFlight--;
        if (frame.body.case === 'send')
          this.d.metrics.sendLatency.observe((performance.now() - started) / 1000);
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  private onHandlerError(conn: Connection, frame: ClientFrame, err: unknown): void {
    const wire = toWireError(err);
    const kind = frame.body.case;
    if (wire.internal) {
      this.d.logger.error({ err, frame: kind, conn: conn.id }, 'request failed');
    }
    this.fail(conn, frame.requestId, wire);
    if (kind === 'authenticate') {
      if (conn.state.kind === 'authenticating') conn.state = { kind: 'unauthenticated' };
      if (wire.code === ErrorCode.DEVICE_REVOKED)
        this.closeWith(conn, CloseCode.DEVICE_REVOKED, 'device revoked');
      else if (wire.code === ErrorCode.AUTH_FAILED || wire.code === ErrorCode.DEVICE_UNKNOWN) {
        this.closeWith(conn, CloseCode.AUTH_FAILED, 'authentication failed');
      }
    }
  }

  private async handle(conn: Connection, frame: ClientFrame): Promise<Reply> {
    const { registry, delivery } = this.d;
    const body = frame.body;
    const device = conn.device;
    switch (body.case) {
      case 'ping':
        return {
          body: {
            case: 'pong',
            value: create(PongSchema, {
              timestampMs: body.value.timestampMs,
              serverTimeMs: BigInt(this.d.clock.now()),
            }),
          },
        };
      case 'authenticate':
        return this.authenticate(conn, body.value);
      case 'registerRequestCode':
        this.armAuthTimer(conn);
        return { body: { case: 'registerCodeSent', value: await registry.registerRequestCode(body.value) } };
      case 'registerVerify':
        this.armAuthTimer(conn);
        return { body: { case: 'registered', value: await registry.registerVerify(body.value) } };
      case 'linkStart': {
        const code = await this.d.link.start(conn, body.value);
        if (conn.authTimer) conn.clearTimer(conn.authTimer);
        return { body: { case: 'linkCode', value: code } };
      }
      case 'linkComplete': {
        const { result, device: linked } = await this.d.link.complete(conn, body.value);
        this.onAuthenticated(conn, linked);
        return {
          body: { case: 'linkCompleted', value: result },
          after: () => this.d.sessions.startDrain(conn),
        };
      }
      case 'linkCancel': {
        const { result, closeAfter } = await this.d.link.cancel(conn, body.value);
        return {
          body: { case: 'linkCancelled', value: result },
          after: closeAfter ? () => this.closeWith(conn, CloseCode.NORMAL, 'link cancelled') : undefined,
        };
      }
      default:
        break;
    }
    // Everything below needs a device (the gate has checked the state).
    if (!device) throw new GatewayError(ErrorCode.UNAUTHENTICATED, 'authenticate first');
    switch (body.case) {
      case 'send': {
        const r = this.d.sendLimiter.take(deviceKey(device.accountId, device.deviceId));
        if (!r.allowed) throw new GatewayError(ErrorCode.RATE_LIMITED, 'too many sends', r.retryAfterMs);
        return { body: { case: 'sendResult', value: await this.d.send.send(device, body.value) } };
      }
      case 'ack':
        await delivery.ack(device, body.value.serverIds);
        return { body: { case: 'acked', value: create(AckedSchema, {}) } };
      case 'accountLookup':
        return {
          body: { case: 'accountLookupResult', value: await registry.accountLookup(device, body.value) },
        };
      case 'prekeyUpload':
        return {
          body: { case: 'prekeyUploadResult', value: await registry.uploadPrekeys(device, body.value) },
        };
      case 'prekeyCount':
        return { body: { case: 'prekeyCountResult', value: await registry.prekeyCount(device) } };
      case 'bundleFetch':
        return { body: { case: 'bundleResult', value: await registry.claimBundles(device, body.value) } };
      case 'deviceListFetch':
        return { body: { case: 'deviceList', value: await registry.getDeviceList(device, body.value) } };
      case 'linkApprove':
        return { body: { case: 'linkApproved', value: await this.d.link.approve(device, body.value) } };
      case 'unlink':
        return { body: { case: 'unlinked', value: await registry.unlink(device, body.value) } };
      case 'historyUpload': {
        await this.checkCompanion(device, body.value.recipientDeviceId);
        return {
          body: { case: 'historyUploadResult', value: await delivery.historyUploadChunk(device, body.value) },
        };
      }
      case 'historyFetch':
        return {
          body: { case: 'historyChunk', value: await delivery.historyFetchChunk(device, body.value) },
        };
      default:
        throw new GatewayError(ErrorCode.BAD_FRAME, `unexpected frame ${String(body.case)}`);
    }
  }

  private async authenticate(conn: Connection, frame: Authenticate): Promise<Reply> {
    conn.state = { kind: 'authenticating' };
    const device = await this.d.auth.authenticate(conn.nonce, frame);
    if (conn.isClosed) throw new GatewayError(ErrorCode.FORBIDDEN, 'socket closed');
    await this.d.sessions.attach(conn, device);
    this.onAuthenticated(conn, device);
    return {
      body: {
        case: 'authenticated',
        value: create(AuthenticatedSchema, {
          accountId: device.accountId,
          deviceId: device.deviceId,
          isPrimary: device.isPrimary,
          serverTimeMs: BigInt(this.d.clock.now()),
        }),
      },
      after: () => this.d.sessions.startDrain(conn),
    };
  }

  private onAuthenticated(conn: Connection, device: DeviceIdentity): void {
    if (conn.authTimer) conn.clearTimer(conn.authTimer);
    if (conn.isClosed || conn.authenticatedAt !== undefined) return;
    conn.authenticatedAt = this.d.clock.now();
    this.d.metrics.authenticated.inc();
    this.d.logger.debug(
      { conn: conn.id, account: device.accountId, device: device.deviceId },
      'device authenticated',
    );
  }

  /** History blobs go only from the primary to one of its current companions. */
  private async checkCompanion(device: DeviceIdentity, recipientDeviceId: number): Promise<void> {
    const lists = await this.d.lists.get([device.accountId]);
    const own = lists.get(device.accountId);
    if (recipientDeviceId === device.deviceId || !own?.has(recipientDeviceId)) {
      throw new GatewayError(ErrorCode.FORBIDDEN, 'recipient is not a companion of this account');
    }
  }

  private armAuthTimer(conn: Connection): void {
    if (conn.authTimer) conn.clearTimer(conn.authTimer);
    conn.authTimer = conn.setTimer(this.d.config.AUTH_TIMEOUT_MS, () => {
      const k = conn.state.kind;
      if (k !== 'unauthenticated' && k !== 'authenticating') return;
      this.fail(conn, 0, { code: ErrorCode.AUTH_TIMEOUT, message: 'no authenticate frame in time' });
      this.closeWith(conn, CloseCode.AUTH_TIMEOUT, 'authentication timeout');
    });
  }

  private rateLimited(conn: Connection, requestId: number, retryAfterMs: number, now: number): void {
    this.fail(conn, requestId, { code: ErrorCode.RATE_LIMITED, message: 'rate limited', retryAfterMs });
    if (conn.recordViolation(now)) this.closeWith(conn, CloseCode.RATE_LIMITED, 'rate limit exceeded');
  }

  private fail(
    conn: Connection,
    requestId: number,
    err: Partial<WireError> & { code: ErrorCode; message: string },
  ): void {
    this.d.outbound.error(conn, requestId, { retryAfterMs: 0, internal: false, ...err });
  }

  private closeWith(conn: Connection, code: number, reason: string): void {
    conn.close(code, reason);
  }

  private reconnectDelay(): number {
    return this.d.config.RECONNECT_DELAY_MS;
  }
}
