import { type DynamicModule, Module } from '@nestjs/common';
import type { Logger, NatsConnection } from '@tandem/service-kit';
import type { GatewayConfig } from './config.js';
import { ConnectionsGateway } from './connections.gateway.js';
import { GATEWAY_CONFIG, LOGGER, NATS } from './tokens.js';

@Module({})
export class GatewayModule {
  static forRoot(deps: { config: GatewayConfig; logger: Logger; nats: NatsConnection }): DynamicModule {
    return {
      module: GatewayModule,
      providers: [
        { provide: GATEWAY_CONFIG, useValue: deps.config },
        { provide: LOGGER, useValue: deps.logger },
        { provide: NATS, useValue: deps.nats },
        ConnectionsGateway,
      ],
    };
  }
}
