import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  closeNats,
  connectNats,
  createLogger,
  createMetricsRegistry,
  type Logger,
  type NatsConnection,
  natsReady,
  type OpsServer,
  startOpsServer,
} from '@tandem/service-kit';
import { GatewayModule, type GatewayModuleDeps } from './app.module.js';
import type { GatewayConfig } from './config.js';
import { WS_PATH } from './connections.gateway.js';
import type { GatewayCore } from './core.js';
import { GATEWAY_CORE } from './tokens.js';
import { BinaryWsAdapter } from './ws/binary-ws.adapter.js';

export { type GatewayConfig, loadGatewayConfig } from './config.js';
export { WS_PATH } from './connections.gateway.js';

export interface GatewayApp {
  readonly logger: Logger;
  readonly nats: NatsConnection;
  readonly ops: OpsServer;
  readonly nest: INestApplication;
  /** The services (connections, metrics, caches), for operations and tests. */
  readonly core: GatewayCore;
  /** The port the WebSocket endpoint listens on. */
  readonly port: number;
  /** ws:// URL devices connect to. */
  readonly url: string;
  /**
   * Graceful shutdown: /readyz turns 503, new sockets are refused, every socket gets going_away and
   * close 1012, in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS), then Nest, NATS and ops close.
   */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** Test seams (clock, signature verifier, service clients). */
  overrides?: GatewayModuleDeps['overrides'];
}

/** Starts one gateway instance: the NestJS WebSocket endpoint, NATS, ops endpoints. */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<GatewayApp> {
  const logger = options.logger ?? createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const nats = await connectNats({ servers: config.NATS_URL, name: 'gateway', logger });
  const metricsRegistry = createMetricsRegistry('gateway');
  const nest = await NestFactory.create(
    GatewayModule.forRoot({ config, logger, nats, metricsRegistry, overrides: options.overrides }),
    { logger: false },
  );
  nest.useWebSocketAdapter(new BinaryWsAdapter(nest));
  await nest.listen(config.PORT, config.HOST);
  const core = nest.get<GatewayCore>(GATEWAY_CORE);
  const port = (nest.getHttpServer().address() as AddressInfo).port;
  const ops = await startOpsServer({
    host: config.OPS_HOST,
    port: config.OPS_PORT,
    registry: metricsRegistry,
    isDraining: () => core.session.isDraining,
    // delivery / registry: cached results of the background probes (ReadinessService).
    checks: [{ name: 'nats', check: () => natsReady(nats) }, ...core.readiness.checks()],
  });
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const url = `ws://${host}:${port}${WS_PATH}`;
  logger.info({ url, opsPort: ops.port }, 'gateway listening');
  let stopping: Promise<void> | undefined;
  return {
    logger,
    nats,
    ops,
    nest,
    core,
    port,
    url,
    stop() {
      stopping ??= (async () => {
        await core.session.shutdown(config.SHUTDOWN_TIMEOUT_MS);
        await nest.close();
        await closeNats(nats);
        await ops.close();
      })();
      return stopping;
    },
  };
}
