import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths never written to a log line. Payload bytes, keys and codes are kept out by construction
 * (log metadata, not messages); this list is the second line of defence.
 */
export const REDACTED_PATHS = [
  'ciphertext',
  '*.ciphertext',
  'payload',
  '*.payload',
  'signature',
  '*.signature',
  'privateKey',
  '*.privateKey',
  'secret',
  '*.secret',
  'code',
  '*.code',
  'token',
  '*.token',
  'password',
  '*.password',
  'req.headers.authorization',
];

export interface LoggerConfig {
  service: string;
  level: LoggerOptions['level'];
  /** Where lines go; defaults to stdout. Tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

/** A structured JSON logger with the service name on every line and secrets redacted. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: config.service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
