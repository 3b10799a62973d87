import { createLogger, type Logger } from '@tandem/service-kit';
import { type GatewayApp, loadGatewayConfig, startGateway } from '../../src/app.js';

export const quietLogger = () =>
  createLogger({ service: 'gateway', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Starts a gateway on random ports with this test file's NATS prefix and the given overrides. */
export function startTestGateway(
  natsUrl: string,
  prefix: string,
  env: Record<string, string> = {},
  logger: Logger = quietLogger(),
): Promise<GatewayApp> {
  const config = loadGatewayConfig({
    PORT: '0',
    OPS_PORT: '0',
    HOST: '127.0.0.1',
    OPS_HOST: '127.0.0.1',
    NATS_URL: natsUrl,
    NATS_SUBJECT_PREFIX: prefix,
    GATEWAY_REALM: 'gateway.test',
    SHUTDOWN_TIMEOUT_MS: '3000',
    ...env,
  });
  return startGateway(config, { logger });
}
