// The steady load of multi-instance-load.test.ts (two delivery instances, two gateways, 20
// accounts of a primary and a linked companion in device farm child processes, about
// TANDEM_LOAD_RATE sends a second for TANDEM_LOAD_SECONDS) on a Redis of the test's own with AOF
// persistence (appendfsync always), which is killed with SIGKILL at 30 % of the load and started
// again on the same port and data after TANDEM_REDIS_DOWN_MS (12 s). The gateways give delivery
// 1 s per request (BUS_TIMEOUT_MS), so a send caught by the outage is rejected (TIMEOUT) after the
// gateway's retry and the SDK's three repeats, about 11 s, while delivery still holds its Redis
// commands and may store the copies once Redis is back: its outcome is unknown. Such a send was
// not accepted; the test retries it (up to 5 times, a second apart) with the clientMessageId its
// error named, as send()'s documentation says to. At the end, after a grace period: every message whose send() resolved reached every
// addressed device exactly once at the application, and Redis holds no copy queued longer ago
// than the grace period.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { details, envNumber, print, report, summaryLine } from './load-core.js';
import { deliveryCounter, type Farms, queuedCopies, startFarms } from './load-harness.js';
import { RedisServer } from './redis-harness.js';
import { type Stack, startStack } from './stack.js';

const ACCOUNTS = 20;
const FARMS = 2;
const LOAD_MS = envNumber('TANDEM_LOAD_SECONDS', 60) * 1000;
const RATE = envNumber('TANDEM_LOAD_RATE', 50);
const GRACE_MS = envNumber('TANDEM_LOAD_GRACE_MS', 15_000);
const DOWN_MS = envNumber('TANDEM_REDIS_DOWN_MS', 12_000);
const KILL_AT_MS = Math.round(LOAD_MS * 0.3);
/** Sends that start this long after Redis is back must all be accepted. */
const RECOVERY_MS = 10_000;
/** Every device connects from 127.0.0.1 (per-IP limits raised); delivery gets 1 s per request (see above). */
const GATEWAY_ENV = {
  PREAUTH_RATE_PER_SEC: '1000',
  PREAUTH_RATE_BURST: '1000',
  CONNECT_RATE_PER_SEC: '1000',
  CONNECT_RATE_BURST: '1000',
  BUS_TIMEOUT_MS: '1000',
};

describe('Redis killed (SIGKILL) and restarted on its AOF under steady load over two delivery instances', () => {
  let redis: RedisServer | undefined;
  let stack: Stack | undefined;
  let farms: Farms | undefined;

  beforeAll(async () => {
    redis = await RedisServer.start();
    stack = await startStack({
      gateways: 2,
      deliveries: 2,
      redisUrl: redis.url,
      gatewayEnv: GATEWAY_ENV,
      logLevel: 'info',
    });
    farms = await startFarms(stack, ACCOUNTS, FARMS);
  }, 240_000);

  afterAll(async () => {
    try {
      if (redis && !redis.running) await redis.start(); // the services shut down cleanly only with it
      await farms?.close();
      await stack?.close();
    } finally {
      await redis?.destroy();
    }
  }, 60_000);

  it(
    'every accepted message reaches every addressed device exactly once, and nothing stays queued',
    async () => {
      const s = stack!;
      expect(s.redis.url).toBe(redis!.url);
      const startAtMs = Date.now() + 500;
      const outage = { killedAtMs: 0, backAtMs: 0 };
      const killAndRestart = (async () => {
        await sleep(startAtMs + KILL_AT_MS - Date.now());
        outage.killedAtMs = Date.now();
        await redis!.kill();
        await sleep(DOWN_MS);
        await redis!.start(); // same port, same data directory: the AOF is loaded
        outage.backAtMs = Date.now();
      })();
      await farms!.run({
        durationMs: LOAD_MS,
        ratePerSec: RATE,
        maxInFlight: 250,
        retries: 5,
        retryDelayMs: 1000,
        startAtMs,
      });
      await killAndRestart;
      let data = await farms!.settle(GRACE_MS);
      const scanAt = Math.max(...data.sends.map((x) => x.acceptedAtMs ?? 0)) + GRACE_MS;
      while (Date.now() < scanAt) await sleep(200);
      data = await farms!.collect();
      const r = report(data, await queuedCopies(s), GRACE_MS);

      const at = (t: number) => ((t - data.startedAtMs) / 1000).toFixed(1);
      const during = data.sends.filter(
        (x) => x.startedAtMs >= outage.killedAtMs && x.startedAtMs < outage.backAtMs,
      );
      const late = data.sends.filter((x) => x.startedAtMs >= outage.backAtMs + RECOVERY_MS);
      const lateFailed = late.filter((x) => x.acceptedAtMs === undefined);
      const served = [
        await deliveryCounter(s, 0, 'delivery_copies_accepted_total'),
        await deliveryCounter(s, 1, 'delivery_copies_accepted_total'),
      ];
      print(
        `${summaryLine('multi-instance load, Redis killed', r)}\n` +
          `Redis killed at ${at(outage.killedAtMs)} s, back at ${at(outage.backAtMs)} s (load ${LOAD_MS / 1000} s); ` +
          `sends started during the outage: ${during.length}, accepted: ${during.filter((x) => x.acceptedAtMs !== undefined).length}; ` +
          `sends started ${RECOVERY_MS / 1000} s after it: ${late.length}, failed: ${lateFailed.length} ` +
          `${JSON.stringify(lateFailed.slice(0, 5).map((x) => ({ n: x.n, errors: x.errors })))}\n` +
          `copies stored by delivery instance 0 / 1: ${served.join(' / ')}\n${details(r)}`,
      );

      // Redis went away under load, and the load went on after it came back.
      expect(outage.backAtMs).toBeGreaterThan(outage.killedAtMs);
      expect(during.length).toBeGreaterThan(0);
      expect(late.length).toBeGreaterThan(0);
      expect(served.every((n) => n > 0)).toBe(true);
      expect({
        failedAfterRecovery: lateFailed.length,
        missing: r.missing.length,
        duplicated: r.duplicated.length,
        misrouted: r.misrouted.length,
        stuckInRedis: r.stuck.length,
      }).toEqual({ failedAfterRecovery: 0, missing: 0, duplicated: 0, misrouted: 0, stuckInRedis: 0 });
    },
    LOAD_MS + DOWN_MS + 4 * GRACE_MS + 300_000,
  );
});
