import {
  AckedSchema,
  type Authenticate,
  AuthenticatedSchema,
  ChallengeSchema,
  type ClientFrame,
  type ClientFrameBody,
  type ClientFrameCase,
  CloseCode,
  create,
  decodeClientFrame,
  ErrorCode,
  GoingAwaySchema,
  PongSchema,
  PROTOCOL_VERSION,
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
import { refuseFrame } from './frame-policy.js';
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
/** Requests one socket may have in flight; past it frames are refused with RATE_LIMITED. */
const MAX_IN_FLIGHT = 32;

type Reply = { body: ServerBody; after?: () => void };
/** The handler of one client frame case; `handlers` has one for every case, or it does not compile. */
type Handler<C extends ClientFrameCase> = (conn: Connection, frame: ClientFrameBody<C>) => Promise<Reply>;
type Handlers = { readonly [C in ClientFrameCase]: Handler<C> };

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
  /** Sockets waiting for a person to type a verification code, per client IP. */
  private readonly registering = new Map<string, number>();

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
      if (c.registering) this.endRegistration(c);
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
    const gate = refuseFrame(conn.state, kind);
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

  private handle(conn: Connection, frame: ClientFrame): Promise<Reply> {
    const body = frame.body;
    if (body.case === undefined) throw new GatewayError(ErrorCode.BAD_FRAME, 'empty frame');
    const handler = this.handlers[body.case] as (conn: Connection, frame: unknown) => Promise<Reply>;
    return handler(conn, body.value);
  }

  /** The device of an authenticated socket (the frame policy has checked the state). */
  private deviceOf(conn: Connection): DeviceIdentity {
    const device = conn.device;
    if (!device) throw new GatewayError(ErrorCode.UNAUTHENTICATED, 'authenticate first');
    return device;
  }

  /** One handler per ClientFrame case, checked complete by the compiler (`Handlers`). */
  private readonly handlers: Handlers = {
    ping: async (_conn, ping) => ({
      body: {
        case: 'pong',
        value: create(PongSchema, {
          timestampMs: ping.timestampMs,
          serverTimeMs: BigInt(this.d.clock.now()),
        }),
      },
    }),
    authenticate: (conn, frame) => this.authenticate(conn, frame),
    registerRequestCode: async (conn, frame) => {
      this.armAuthTimer(conn);
      if (
        !conn.registering &&
        (this.registering.get(conn.ip) ?? 0) >= this.d.config.REGISTRATION_SOCKETS_PER_IP
      ) {
        throw new GatewayError(
          ErrorCode.RATE_LIMITED,
          'too many registrations in progress from this address',
        );
      }
      const sent = await this.d.registry.registerRequestCode(frame);
      if (!conn.isClosed) {
        // A person now copies the code from wherever it went: give them minutes, not seconds.
        if (!conn.registering) {
          conn.registering = true;
          this.registering.set(conn.ip, (this.registering.get(conn.ip) ?? 0) + 1);
        }
        this.armAuthTimer(conn, this.d.config.REGISTRATION_WINDOW_MS);
      }
      return { body: { case: 'registerCodeSent', value: sent } };
    },
    registerVerify: async (conn, frame) => {
      // A wrong code may be typed again within the window; a right one is followed by authenticate.
      try {
        return { body: { case: 'registered', value: await this.d.registry.registerVerify(frame) } };
      } finally {
        if (conn.registering) {
          this.armAuthTimer(conn, this.d.config.REGISTRATION_WINDOW_MS);
        } else this.armAuthTimer(conn);
      }
    },
    linkStart: async (conn, frame) => {
      const code = await this.d.link.start(conn, frame);
      if (conn.authTimer) conn.clearTimer(conn.authTimer);
      return { body: { case: 'linkCode', value: code } };
    },
    linkComplete: async (conn, frame) => {
      const { result, device: linked } = await this.d.link.complete(conn, frame);
      this.onAuthenticated(conn, linked);
      return {
        body: { case: 'linkCompleted', value: result },
        after: () => this.d.sessions.startDrain(conn),
      };
    },
    linkCancel: async (conn, frame) => {
      const { result, closeAfter } = await this.d.link.cancel(conn, frame);
      return {
        body: { case: 'linkCancelled', value: result },
        after: closeAfter ? () => this.closeWith(conn, CloseCode.NORMAL, 'link cancelled') : undefined,
      };
    },
    send: async (conn, frame) => {
      const device = this.deviceOf(conn);
      const r = this.d.sendLimiter.take(deviceKey(device.accountId, device.deviceId));
      if (!r.allowed) throw new GatewayError(ErrorCode.RATE_LIMITED, 'too many sends', r.retryAfterMs);
      return { body: { case: 'sendResult', value: await this.d.send.send(device, frame) } };
    },
    ack: async (conn, frame) => {
      await this.d.delivery.ack(this.deviceOf(conn), frame.serverIds);
      return { body: { case: 'acked', value: create(AckedSchema, {}) } };
    },
    accountLookup: async (conn, frame) => ({
      body: {
        case: 'accountLookupResult',
        value: await this.d.registry.accountLookup(this.deviceOf(conn), frame),
      },
    }),
    prekeyUpload: async (conn, frame) => ({
      body: {
        case: 'prekeyUploadResult',
        value: await this.d.registry.uploadPrekeys(this.deviceOf(conn), frame),
      },
    }),
    prekeyCount: async (conn) => ({
      body: { case: 'prekeyCountResult', value: await this.d.registry.prekeyCount(this.deviceOf(conn)) },
    }),
    bundleFetch: async (conn, frame) => ({
      body: { case: 'bundleResult', value: await this.d.registry.claimBundles(this.deviceOf(conn), frame) },
    }),
    deviceListFetch: async (conn, frame) => ({
      body: { case: 'deviceList', value: await this.d.registry.getDeviceList(this.deviceOf(conn), frame) },
    }),
    linkApprove: async (conn, frame) => ({
      body: { case: 'linkApproved', value: await this.d.link.approve(this.deviceOf(conn), frame) },
    }),
    unlink: async (conn, frame) => ({
      body: { case: 'unlinked', value: await this.d.registry.unlink(this.deviceOf(conn), frame) },
    }),
    historyUpload: async (conn, frame) => {
      const device = this.deviceOf(conn);
      await this.checkCompanion(device, frame.recipientDeviceId);
      return {
        body: { case: 'historyUploadResult', value: await this.d.delivery.historyUploadChunk(device, frame) },
      };
    },
    historyFetch: async (conn, frame) => ({
      body: {
        case: 'historyChunk',
        value: await this.d.delivery.historyFetchChunk(this.deviceOf(conn), frame),
      },
    }),
  };

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
    if (conn.registering) this.endRegistration(conn);
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

  private endRegistration(conn: Connection): void {
    conn.registering = false;
    const left = (this.registering.get(conn.ip) ?? 1) - 1;
    if (left > 0) this.registering.set(conn.ip, left);
    else this.registering.delete(conn.ip);
  }

  private armAuthTimer(conn: Connection, ms = this.d.config.AUTH_TIMEOUT_MS): void {
    if (conn.authTimer) conn.clearTimer(conn.authTimer);
    conn.authTimer = conn.setTimer(ms, () => {
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
