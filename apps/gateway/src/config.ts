import { env, loadConfig } from '@tandem/service-kit';
import { z } from 'zod';

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
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const loadGatewayConfig = (source?: Record<string, string | undefined>): GatewayConfig =>
  loadConfig(gatewayConfigSchema, source);
