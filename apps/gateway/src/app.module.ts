import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { Logger, NatsConnection, Registry } from '@tandem/service-kit';
import { NatsBus } from './bus/bus.js';
import { systemClock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { ConnectionsGateway } from './connections.gateway.js';
import { type CoreDeps, createGatewayCore, type GatewayCore } from './core.js';
import { CryptoSignatureVerifier } from './services/crypto-verifier.js';
import { GATEWAY_CONFIG, GATEWAY_CORE, LOGGER, NATS } from './tokens.js';

/** Starts the event subscriptions and the heartbeat with the module, stops them with it. */
@Injectable()
export class GatewayLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(@Inject(GATEWAY_CORE) private readonly core: GatewayCore) {}

  async onModuleInit(): Promise<void> {
    await this.core.events.start();
    this.core.heartbeat.start();
    this.core.touch.start();
    this.core.stuck.start();
    await this.core.readiness.start();
  }

  async onModuleDestroy(): Promise<void> {
    this.core.heartbeat.stop();
    this.core.touch.stop();
    this.core.events.stop();
    await Promise.all([this.core.stuck.stop(), this.core.readiness.stop()]);
  }
}

export interface GatewayModuleDeps {
  config: GatewayConfig;
  logger: Logger;
  nats: NatsConnection;
  metricsRegistry: Registry;
  /** Test seams: a different clock, verifier or service clients. */
  overrides?: Partial<Pick<CoreDeps, 'clock' | 'verifier' | 'registry' | 'delivery'>>;
}

@Module({})
export class GatewayModule {
  static forRoot(deps: GatewayModuleDeps): DynamicModule {
    return {
      module: GatewayModule,
      providers: [
        { provide: GATEWAY_CONFIG, useValue: deps.config },
        { provide: LOGGER, useValue: deps.logger },
        { provide: NATS, useValue: deps.nats },
        {
          provide: GATEWAY_CORE,
          useFactory: (): GatewayCore =>
            createGatewayCore({
              config: deps.config,
              logger: deps.logger,
              bus: new NatsBus(deps.nats),
              clock: deps.overrides?.clock ?? systemClock,
              verifier: deps.overrides?.verifier ?? new CryptoSignatureVerifier(),
              metricsRegistry: deps.metricsRegistry,
              registry: deps.overrides?.registry,
              delivery: deps.overrides?.delivery,
            }),
        },
        GatewayLifecycle,
        ConnectionsGateway,
      ],
    };
  }
}
