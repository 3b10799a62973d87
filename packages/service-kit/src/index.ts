export { ConfigError, env, loadConfig } from './config.js';
export { installShutdown, runMain, type ShutdownStep } from './lifecycle.js';
export { createLogger, type Logger, type LoggerConfig, REDACTED_PATHS } from './logger.js';
export { Counter, createMetricsRegistry, Gauge, Histogram, Registry } from './metrics.js';
export { closeNats, connectNats, type NatsConnection, type NatsOptions, natsReady } from './nats.js';
export { type OpsServer, type OpsServerOptions, type ReadinessCheck, startOpsServer } from './ops-server.js';
