// Steady load over two delivery instances and two gateways (issue 16): 20 accounts of a primary
// and a linked companion, devices spread over both gateways, all online; for TANDEM_LOAD_SECONDS
// (60 by default) about TANDEM_LOAD_RATE (50) sends a second in total between random accounts,
// each with a unique numbered text. Then, after a grace period (TANDEM_LOAD_GRACE_MS, 15 s):
// every message whose send() resolved reached every addressed device (each device of the
// recipient account, and the sender's other device as a sync copy) exactly once at the
// application, and Redis holds no copy queued longer ago than the grace period.
//
// The services run in this process; the devices in two device farm child processes
// (load-harness.ts). Sessions between devices are not set up beforehand: many pairs of devices
// first write to each other under the load, at about the same moment, as they would in the field.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { details, envNumber, print, report, summaryLine } from './load-core.js';
import { deliveryCounter, type Farms, queuedCopies, startFarms } from './load-harness.js';
import { type Stack, startStack } from './stack.js';

const ACCOUNTS = 20;
const FARMS = 2;
const LOAD_MS = envNumber('TANDEM_LOAD_SECONDS', 60) * 1000;
const RATE = envNumber('TANDEM_LOAD_RATE', 50);
const GRACE_MS = envNumber('TANDEM_LOAD_GRACE_MS', 15_000);
/** Every device of the test connects from 127.0.0.1: the per-IP limits are raised accordingly. */
const GATEWAY_ENV = {
  PREAUTH_RATE_PER_SEC: '1000',
  PREAUTH_RATE_BURST: '1000',
  CONNECT_RATE_PER_SEC: '1000',
  CONNECT_RATE_BURST: '1000',
};

describe('steady load over two delivery instances and two gateways', () => {
  let stack: Stack | undefined;
  let farms: Farms | undefined;

  beforeAll(async () => {
    stack = await startStack({ gateways: 2, deliveries: 2, gatewayEnv: GATEWAY_ENV, logLevel: 'info' });
    farms = await startFarms(stack, ACCOUNTS, FARMS);
  }, 240_000);

  afterAll(async () => {
    await farms?.close();
    await stack?.close();
  }, 60_000);

  it(
    'every accepted message reaches every addressed device exactly once, and nothing stays queued',
    async () => {
      const s = stack!;
      const devices = farms!.accounts.flatMap((a) => a.devices);
      expect(devices).toHaveLength(2 * ACCOUNTS);
      expect(new Set(devices.map((d) => d.gateway))).toEqual(new Set([0, 1]));
      const before = [
        await deliveryCounter(s, 0, 'delivery_copies_accepted_total'),
        await deliveryCounter(s, 1, 'delivery_copies_accepted_total'),
      ];

      await farms!.run({
        durationMs: LOAD_MS,
        ratePerSec: RATE,
        maxInFlight: 250,
        retries: 0,
        retryDelayMs: 0,
        startAtMs: Date.now() + 500,
      });
      let data = await farms!.settle(GRACE_MS);
      // Whatever was queued before the last send settled is older than the grace period by the scan.
      const scanAt = Math.max(...data.sends.map((x) => x.acceptedAtMs ?? 0)) + GRACE_MS;
      while (Date.now() < scanAt) await sleep(200);
      data = await farms!.collect();
      const r = report(data, await queuedCopies(s), GRACE_MS);
      const served = [
        (await deliveryCounter(s, 0, 'delivery_copies_accepted_total')) - before[0]!,
        (await deliveryCounter(s, 1, 'delivery_copies_accepted_total')) - before[1]!,
      ];
      print(
        `${summaryLine('multi-instance load', r)}\n` +
          `copies stored by delivery instance 0 / 1: ${served.join(' / ')}\n${details(r)}`,
      );

      // The load ran and both delivery instances served it.
      expect(r.accepted).toBeGreaterThan(0);
      expect(served.every((n) => n > 0)).toBe(true);
      // The promise is about accepted sends; rejected ones (reported above) were not accepted.
      expect({
        missing: r.missing.length,
        duplicated: r.duplicated.length,
        misrouted: r.misrouted.length,
        stuckInRedis: r.stuck.length,
      }).toEqual({ missing: 0, duplicated: 0, misrouted: 0, stuckInRedis: 0 });
    },
    LOAD_MS + 4 * GRACE_MS + 300_000,
  );
});
