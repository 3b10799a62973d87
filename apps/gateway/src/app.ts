import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import {
  connectNats,
  createLogger,
  createMetricsRegistry,
  type Logger,
  type NatsConnection,
  natsReady,
  type OpsServer,
  startOpsServer,
} from '@tandem/service-kit';
import type { AddressInfo } from 'node:net';
import { GatewayModule } from './app.module.js';
import type { GatewayConfig } from './config.js';
import { ConnectionsGateway, WS_PATH } from './connections.gateway.js';

export { type GatewayConfig, loadGatewayConfig } from './config.js';

export interface GatewayApp {
  readonly logger: Logger;
  readonly nats: NatsConnection;
  readonly ops: OpsServer;
  readonly nest: INestApplication;
  /** The port the WebSocket endpoint listens on. */
  readonly port: number;
  /** ws:// URL devices connect to. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
}

/** Starts one gateway instance: the NestJS WebSocket endpoint, NATS, ops endpoints. */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<GatewayApp> {
  const logger = options.logger ?? createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const nats = await connectNats({ servers: config.NATS_URL, name: 'gateway', logger });
  const nest = await NestFactory.create(GatewayModule.forRoot({ config, logger, nats }), { logger: false });
  nest.useWebSocketAdapter(new WsAdapter(nest));
  nest.enableShutdownHooks([]);
  await nest.listen(config.PORT, config.HOST);
  const port = (nest.getHttpServer().address() as AddressInfo).port;
  const metrics = createMetricsRegistry('gateway');
  let draining = false;
  const ops = await startOpsServer({
    host: config.OPS_HOST,
    port: config.OPS_PORT,
    registry: metrics,
    isDraining: () => draining,
    checks: [{ name: 'nats', check: () => natsReady(nats) }],
  });
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const url = `ws://${host}:${port}${WS_PATH}`;
  logger.info({ url, opsPort: ops.port }, 'gateway listening');
  return {
    logger,
    nats,
    ops,
    nest,
    port,
    url,
    async stop() {
      draining = true;
      nest.get(ConnectionsGateway).closeAll(1012, 'service restart');
      await nest.close();
      await nats.drain();
      await ops.close();
    },
  };
}
