import { MAX_STALE_AGE_MS, MAX_STALE_CHECK_DEVICES } from '@tandem/proto';
import { env, loadConfig } from '@tandem/service-kit';
import { z } from 'zod';

const perSec = (fallback: number) => z.coerce.number().positive().default(fallback);

export const gatewayConfigSchema = z.object({
  HOST: env.string('0.0.0.0'),
  /** The public port: the WebSocket endpoint is at WS_PATH ('/v1/ws'). */
  PORT: env.port(8080),
  NATS_URL: env.urls(['nats', 'tls'], 'nats://127.0.0.1:4222'),
  NATS_SUBJECT_PREFIX: env.subjectPrefix('tandem'),
  OPS_HOST: env.string('0.0.0.0'),
  OPS_PORT: env.port(9100),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_TIMEOUT_MS: env.millis(10_000),
  /** The server identity devices sign into their challenge response, so a signature can't be replayed elsewhere. */
  GATEWAY_REALM: z.string().min(1).max(128).default('tandem.local'),

  /** An unauthenticated, non-linking socket is closed when it has not authenticated by then. */
  AUTH_TIMEOUT_MS: env.millis(5_000),
  /**
   * A socket that has been sent a verification code stays open this long for a person to type it
   * (instead of AUTH_TIMEOUT_MS); at most REGISTRATION_SOCKETS_PER_IP such sockets per address.
   */
  REGISTRATION_WINDOW_MS: env.millis(10 * 60_000),
  REGISTRATION_SOCKETS_PER_IP: env.int(4, 1, 10_000),
  /** Accepted difference between the device's signed timestamp and the server clock. */
  AUTH_MAX_SKEW_MS: env.millis(5 * 60_000),
  /** Interval of server WebSocket pings. */
  HEARTBEAT_INTERVAL_MS: env.millis(15_000),
  /** A socket that has not answered a ping (or sent anything) for this long is closed. */
  HEARTBEAT_TIMEOUT_MS: env.millis(45_000),
  /** Per-socket bound of bytes queued for sending; a client that stops reading is cut off past it. */
  MAX_BUFFERED_BYTES: env.int(1024 * 1024, 1024),
  /** Timeout of one NATS request to the registry or delivery. */
  BUS_TIMEOUT_MS: env.millis(3_000),
  /** Copies per backlog page fetched from delivery after authentication. */
  DRAIN_PAGE_SIZE: env.int(100, 1, 1000),
  /** Accounts whose device lists are cached for the send check. */
  DEVICE_LIST_CACHE_SIZE: env.int(50_000, 1),
  /** Frames per second per connection (token bucket) and its burst. */
  FRAME_RATE_PER_SEC: perSec(50),
  FRAME_RATE_BURST: env.int(100, 1),
  /** Sends per second per device and burst. */
  SEND_RATE_PER_SEC: perSec(20),
  SEND_RATE_BURST: env.int(50, 1),
  /** New connections per second per client IP and burst. */
  CONNECT_RATE_PER_SEC: perSec(20),
  CONNECT_RATE_BURST: env.int(100, 1),
  /** Pre-auth requests (registration, link_start, authenticate) per second per client IP and burst. */
  PREAUTH_RATE_PER_SEC: perSec(5),
  PREAUTH_RATE_BURST: env.int(30, 1),
  /** Rate-limit violations within RATE_VIOLATION_WINDOW_MS after which the socket is closed. */
  RATE_VIOLATIONS_BEFORE_CLOSE: env.int(20, 1),
  RATE_VIOLATION_WINDOW_MS: env.millis(10_000),
  /** Malformed frames tolerated per socket before it is closed. */
  BAD_FRAMES_BEFORE_CLOSE: env.int(10, 1),
  /** Trust X-Forwarded-For for the client IP (only behind a proxy that sets it). */
  TRUST_PROXY: env.bool(false),
  /** How often the devices connected here are reported to the registry as seen (0 = never). */
  TOUCH_INTERVAL_MS: env.int(60_000, 0),
  /** Upper bound of the random reconnect delay announced in going_away. */
  RECONNECT_DELAY_MS: env.int(5_000, 0, 600_000),
  /** A queued copy this old that was never pushed to its connected device is stuck (then pushed). */
  STUCK_AGE_MS: env.int(5_000, 100, MAX_STALE_AGE_MS),
  /** Interval of the stuck-copy sweep: one batch of connected devices per interval (0 = off). */
  STUCK_SWEEP_INTERVAL_MS: env.int(1_000, 0, 600_000),
  /** Connected devices checked per sweep interval (one delivery.stale_copies request). */
  STUCK_SWEEP_BATCH: env.int(100, 1, MAX_STALE_CHECK_DEVICES),
  /** Pause between two rounds of readiness probes of delivery and the registry. */
  READINESS_PROBE_INTERVAL_MS: env.int(500, 50, 60_000),
  /** Timeout of one readiness probe. */
  READINESS_PROBE_TIMEOUT_MS: env.int(1_000, 10, 60_000),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const loadGatewayConfig = (source?: Record<string, string | undefined>): GatewayConfig =>
  loadConfig(gatewayConfigSchema, source);
