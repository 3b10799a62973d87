import { subjects } from '@tandem/proto';
import type { Logger, Registry } from '@tandem/service-kit';
import type { Bus } from './bus/bus.js';
import { BusDeliveryClient, type DeliveryClient } from './bus/delivery.client.js';
import { BusRegistryClient, type RegistryClient } from './bus/registry.client.js';
import type { Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { ConnectionRegistry } from './connection/connection-registry.js';
import { Outbound } from './connection/outbound.js';
import { LocalRateLimiter } from './limits/token-bucket.js';
import { GatewayMetrics } from './metrics.js';
import { AuthService } from './services/auth.service.js';
import { DeviceListCache } from './services/device-list-cache.js';
import { DeviceSessionService } from './services/device-session.service.js';
import { EventsService } from './services/events.service.js';
import { HeartbeatService } from './services/heartbeat.service.js';
import { LinkService } from './services/link.service.js';
import { ReadinessService } from './services/readiness.service.js';
import { SendService } from './services/send.service.js';
import { SessionService } from './services/session.service.js';
import type { SignatureVerifier } from './services/signature-verifier.js';
import { StuckCopySweeper } from './services/stuck-copies.service.js';
import { TouchService } from './services/touch.service.js';

export interface CoreDeps {
  config: GatewayConfig;
  logger: Logger;
  bus: Bus;
  clock: Clock;
  verifier: SignatureVerifier;
  metricsRegistry: Registry;
  /** Overrides for tests (fakes of the registry / delivery clients). */
  registry?: RegistryClient;
  delivery?: DeliveryClient;
}

/** The gateway's object graph: services wired to their repositories/clients. Plain classes, no Nest. */
export interface GatewayCore {
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  readonly connections: ConnectionRegistry;
  readonly session: SessionService;
  readonly heartbeat: HeartbeatService;
  readonly events: EventsService;
  readonly lists: DeviceListCache;
  readonly touch: TouchService;
  readonly stuck: StuckCopySweeper;
  readonly readiness: ReadinessService;
}

export function createGatewayCore(d: CoreDeps): GatewayCore {
  const { config, logger, bus, clock } = d;
  const catalog = subjects(config.NATS_SUBJECT_PREFIX);
  const metrics = new GatewayMetrics(d.metricsRegistry);
  const registry = d.registry ?? new BusRegistryClient(bus, catalog, config.BUS_TIMEOUT_MS);
  const delivery = d.delivery ?? new BusDeliveryClient(bus, catalog, config.BUS_TIMEOUT_MS);
  const connections = new ConnectionRegistry();
  const outbound = new Outbound(metrics, logger);
  const lists = new DeviceListCache(registry, config.DEVICE_LIST_CACHE_SIZE, {
    hit: () => metrics.deviceListCache.inc({ result: 'hit' }),
    miss: () => metrics.deviceListCache.inc({ result: 'miss' }),
  });
  const sessions = new DeviceSessionService(bus, catalog, delivery, connections, outbound, logger, {
    drainPageSize: config.DRAIN_PAGE_SIZE,
    drainBufferLowWater: Math.floor(config.MAX_BUFFERED_BYTES / 4),
    drainStallMs: config.HEARTBEAT_TIMEOUT_MS,
    maxPendingLive: 256,
    forwardedWindow: 512,
  });
  const auth = new AuthService(registry, d.verifier, clock, {
    realm: config.GATEWAY_REALM,
    maxSkewMs: config.AUTH_MAX_SKEW_MS,
  });
  const send = new SendService(lists, delivery, { acceptTimeoutMs: config.BUS_TIMEOUT_MS });
  const link = new LinkService(registry, bus, catalog, outbound, sessions, clock, logger);
  const session = new SessionService({
    config,
    clock,
    logger,
    metrics,
    outbound,
    connections,
    auth,
    sessions,
    send,
    link,
    registry,
    delivery,
    lists,
    connectLimiter: new LocalRateLimiter(
      { capacity: config.CONNECT_RATE_BURST, refillPerSec: config.CONNECT_RATE_PER_SEC },
      clock,
    ),
    preauthLimiter: new LocalRateLimiter(
      { capacity: config.PREAUTH_RATE_BURST, refillPerSec: config.PREAUTH_RATE_PER_SEC },
      clock,
    ),
    sendLimiter: new LocalRateLimiter(
      { capacity: config.SEND_RATE_BURST, refillPerSec: config.SEND_RATE_PER_SEC },
      clock,
    ),
  });
  const heartbeat = new HeartbeatService(connections, clock, {
    intervalMs: config.HEARTBEAT_INTERVAL_MS,
    timeoutMs: config.HEARTBEAT_TIMEOUT_MS,
  });
  const events = new EventsService(bus, catalog, connections, lists, sessions, outbound, registry, logger);
  const touch = new TouchService(connections, registry, clock, logger, config.TOUCH_INTERVAL_MS);
  const stuck = new StuckCopySweeper(connections, delivery, sessions, metrics, logger, {
    stuckAgeMs: config.STUCK_AGE_MS,
    intervalMs: config.STUCK_SWEEP_INTERVAL_MS,
    batchSize: config.STUCK_SWEEP_BATCH,
  });
  const readiness = new ReadinessService(
    [
      { name: 'delivery', probe: (ms) => delivery.ping(ms) },
      { name: 'registry', probe: (ms) => registry.ping(ms) },
    ],
    { intervalMs: config.READINESS_PROBE_INTERVAL_MS, timeoutMs: config.READINESS_PROBE_TIMEOUT_MS },
    logger,
    metrics,
  );
  return { config, metrics, connections, session, heartbeat, events, lists, touch, stuck, readiness };
}
