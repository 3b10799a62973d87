import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, env, loadConfig } from '../../src/config.js';

const schema = z.object({
  PORT: env.port(8080),
  REDIS_URL: env.url(['redis', 'rediss']),
  NATS_URL: env.urls(['nats', 'tls'], 'nats://127.0.0.1:4222'),
  LOG_LEVEL: env.logLevel(),
});

describe('loadConfig', () => {
  it('applies defaults and coerces types', () => {
    const cfg = loadConfig(schema, { REDIS_URL: 'redis://localhost:6379' });
    expect(cfg).toEqual({
      PORT: 8080,
      REDIS_URL: 'redis://localhost:6379',
      NATS_URL: ['nats://127.0.0.1:4222'],
      LOG_LEVEL: 'info',
    });
  });

  it('names a missing required variable', () => {
    expect(() => loadConfig(schema, {})).toThrow(new ConfigError('REDIS_URL', 'is required'));
  });

  it('names the variable whose value is invalid', () => {
    const run = () => loadConfig(schema, { REDIS_URL: 'redis://x', PORT: 'eighty' });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/^invalid configuration: PORT: /);
  });

  it('rejects a URL with the wrong scheme', () => {
    expect(() => loadConfig(schema, { REDIS_URL: 'http://localhost' })).toThrow(
      /REDIS_URL: must be a URL with scheme redis or rediss/,
    );
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(schema, { REDIS_URL: 'redis://x', PORT: '' }).PORT).toBe(8080);
  });

  it('splits comma-separated URL lists', () => {
    expect(
      loadConfig(schema, { REDIS_URL: 'redis://x', NATS_URL: 'nats://a:1, nats://b:2' }).NATS_URL,
    ).toEqual(['nats://a:1', 'nats://b:2']);
  });
});
