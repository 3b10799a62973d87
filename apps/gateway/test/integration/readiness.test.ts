import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type DeliveryApp, loadDeliveryConfig, startDelivery } from '@tandem/delivery';
import { createLogger } from '@tandem/service-kit';
import { type Stack, startStack } from '../helpers/stack.js';

/** /readyz tells whether the gateway can serve: NATS, delivery and the registry answer. */
describe('gateway readiness', () => {
  let stack: Stack;
  let restarted: DeliveryApp | undefined;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await restarted?.stop();
    await stack.close();
  });

  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${stack.gateways[0]!.ops.port}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks?: Record<string, string> } };
  };
  /** Polls /readyz until it answers `status`; resolves with the elapsed ms (rejects after `withinMs`). */
  const until = async (status: number, withinMs: number) => {
    const t0 = Date.now();
    for (;;) {
      const r = await readyz();
      if (r.status === status) return { ms: Date.now() - t0, ...r };
      if (Date.now() - t0 > withinMs) throw new Error(`/readyz still ${r.status} after ${withinMs} ms`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  it('is ready while NATS, delivery and the registry answer', async () => {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.checks).toEqual({ nats: 'ok', delivery: 'ok', registry: 'ok' });
  });

  it('turns 503 within 2 s of delivery stopping, and 200 again once delivery is back', async () => {
    await stack.delivery.stop();
    const down = await until(503, 2000);
    expect(down.body.checks).toEqual({ nats: 'ok', delivery: 'down', registry: 'ok' });
    restarted = await startDelivery(
      loadDeliveryConfig({
        REDIS_URL: stack.redis.url,
        REDIS_KEY_PREFIX: stack.redis.prefix,
        NATS_URL: stack.nats.url,
        NATS_SUBJECT_PREFIX: stack.nats.prefix,
        OPS_PORT: '0',
        OPS_HOST: '127.0.0.1',
      }),
      { logger: createLogger({ service: 'delivery', level: 'silent' }) },
    );
    await until(200, 2000);
  });

  it('turns 503 when the registry stops', async () => {
    await stack.registry.stop();
    const down = await until(503, 2000);
    expect(down.body.checks).toEqual({ nats: 'ok', delivery: 'ok', registry: 'down' });
  });
});
