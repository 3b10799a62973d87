import { describe, expect, it } from '@jest/globals';
import { Registry } from '@tandem/service-kit';
import { GatewayMetrics } from '../../src/metrics.js';
import { ReadinessService } from '../../src/services/readiness.service.js';
import { silentLogger } from '../helpers/unit-kit.js';

describe('ReadinessService', () => {
  it('is not ready before a probe answered, follows each probe round, and gives probes the timeout', async () => {
    let deliveryUp = true;
    const timeouts: number[] = [];
    const metrics = new GatewayMetrics(new Registry());
    const readiness = new ReadinessService(
      [
        {
          name: 'delivery',
          probe: async (ms) => {
            timeouts.push(ms);
            if (!deliveryUp) throw new Error('no responders');
          },
        },
        { name: 'registry', probe: async () => {} },
      ],
      { intervalMs: 60_000, timeoutMs: 250 },
      silentLogger,
      metrics,
    );
    const checks = readiness.checks();
    expect(checks.map((c) => [c.name, c.check()])).toEqual([
      ['delivery', false],
      ['registry', false],
    ]);
    await readiness.probeAll();
    expect(checks.map((c) => c.check())).toEqual([true, true]);
    deliveryUp = false;
    await readiness.probeAll();
    expect(checks.map((c) => c.check())).toEqual([false, true]);
    const up = (await metrics.dependencyUp.get()).values.map((v) => [v.labels.dependency, v.value]);
    expect(up).toEqual([
      ['delivery', 0],
      ['registry', 1],
    ]);
    deliveryUp = true;
    await readiness.probeAll();
    expect(readiness.isUp('delivery')).toBe(true);
    expect(timeouts).toEqual([250, 250, 250]);
  });

  it('probes in the background once started, and not after stop', async () => {
    let probes = 0;
    const readiness = new ReadinessService(
      [{ name: 'delivery', probe: async () => void probes++ }],
      { intervalMs: 10, timeoutMs: 100 },
      silentLogger,
      new GatewayMetrics(new Registry()),
    );
    await readiness.start();
    expect(readiness.isUp('delivery')).toBe(true);
    while (probes < 3) await new Promise((r) => setTimeout(r, 5));
    await readiness.stop();
    const after = probes;
    await new Promise((r) => setTimeout(r, 40));
    expect(probes).toBe(after);
  });
});
