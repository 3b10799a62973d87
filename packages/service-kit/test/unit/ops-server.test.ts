import { afterEach, describe, expect, it } from '@jest/globals';
import { Counter } from 'prom-client';
import { createMetricsRegistry } from '../../src/metrics.js';
import { type OpsServer, startOpsServer } from '../../src/ops-server.js';

describe('ops server', () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  const start = async (opts: { up?: boolean; draining?: boolean; throws?: boolean } = {}) => {
    const registry = createMetricsRegistry('test-svc');
    new Counter({ name: 'tandem_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      isDraining: () => opts.draining ?? false,
      checks: [
        { name: 'db', check: () => opts.up ?? true },
        {
          name: 'bus',
          check: async () => {
            if (opts.throws) throw new Error('boom');
            return true;
          },
        },
      ],
    });
    return `http://127.0.0.1:${server.port}`;
  };

  it('answers /healthz with 200 while the process runs', async () => {
    const base = await start({ up: false });
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 with every check ok', async () => {
    const res = await fetch(`${await start()}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { db: 'ok', bus: 'ok' } });
  });

  it('answers /readyz 503 naming the dependency that is down or throws', async () => {
    const down = await fetch(`${await start({ up: false })}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'unavailable', checks: { db: 'down', bus: 'ok' } });
    await server?.close();
    const thrown = await fetch(`${await start({ throws: true })}/readyz`);
    expect(thrown.status).toBe(503);
    expect(await thrown.json()).toEqual({ status: 'unavailable', checks: { db: 'ok', bus: 'down' } });
  });

  it('answers /readyz 503 while draining so balancers stop sending work', async () => {
    const res = await fetch(`${await start({ draining: true })}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'draining' });
  });

  it('serves Prometheus metrics with the service label and process metrics', async () => {
    const res = await fetch(`${await start()}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text).toContain('tandem_test_total{service="test-svc"} 3');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const base = await start();
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});
