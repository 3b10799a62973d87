import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@tandem/service-kit';
import { createTestNats, type TestNats } from '@tandem/testkit';
import WebSocket from 'ws';
import { type GatewayApp, loadGatewayConfig, startGateway } from '../../src/app.js';

describe('gateway boot', () => {
  let nats: TestNats;
  let app: GatewayApp;
  beforeAll(async () => {
    nats = await createTestNats();
    const config = loadGatewayConfig({
      PORT: '0',
      OPS_PORT: '0',
      HOST: '127.0.0.1',
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: nats.prefix,
    });
    app = await startGateway(config, { logger: createLogger({ service: 'gateway', level: 'silent' }) });
  });
  afterAll(async () => {
    await app.stop();
    await nats.close();
  });

  it('accepts WebSocket connections at the configured path', async () => {
    const ws = new WebSocket(app.url);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('answers /healthz, and /readyz 503 while neither delivery nor the registry answers', async () => {
    const health = await fetch(`http://127.0.0.1:${app.ops.port}/healthz`);
    const ready = await fetch(`http://127.0.0.1:${app.ops.port}/readyz`);
    expect(health.status).toBe(200);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'unavailable',
      checks: { nats: 'ok', delivery: 'down', registry: 'down' },
    });
  });
});
