import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeviceStatus } from '@tandem/proto';
import type { RegistryApp } from '../../src/app.js';
import { call, type Harness, type Registered, registerAccount, startHarness } from '../helpers/registry.js';

/** Requests handled by one instance, read from its own /metrics. */
async function handled(app: RegistryApp, subject: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('registry_requests_total{') && line.includes(`subject="${subject}"`)) {
      sum += Number(line.split(' ').pop());
    }
  }
  return sum;
}

describe('several registry instances in one queue group', () => {
  let h: Harness;
  let accounts: Registered[];
  beforeAll(async () => {
    h = await startHarness();
    accounts = await Promise.all(Array.from({ length: 5 }, () => registerAccount(h, 2, 1)));
  });
  afterAll(async () => {
    await h.close();
  });

  /** get_device with retries on timeout / no responders; returns the attempts it took. */
  async function getDevice(r: Registered, timeoutMs: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await call(
          h,
          h.catalog.registry.getDevice,
          { device: { accountId: r.accountId, deviceId: 1 } },
          timeoutMs,
        );
        if (res.result.case !== 'ok') throw new Error(`unexpected reply ${res.result.case}`);
        expect(res.result.value.identityKey).toEqual(r.keys.publicKey);
        expect(res.result.value.status).toBe(DeviceStatus.ACTIVE);
        return attempt;
      } catch (err) {
        const transient =
          err instanceof Error && /timeout|no responders|503/i.test(`${err.name} ${err.message}`);
        if (!transient || attempt >= 10) throw err;
      }
    }
  }

  it('shares requests between instances (both receive some)', async () => {
    const second = await h.startInstance();
    const subject = 'v1.registry.get_device';
    const before = [await handled(h.app, subject), await handled(second, subject)];
    await Promise.all(Array.from({ length: 200 }, (_, i) => getDevice(accounts[i % accounts.length]!, 5000)));
    const after = [await handled(h.app, subject), await handled(second, subject)];
    const share = [after[0]! - before[0]!, after[1]! - before[1]!];
    expect(share[0]! + share[1]!).toBe(200);
    expect(share[0]).toBeGreaterThan(0);
    expect(share[1]).toBeGreaterThan(0);
    await second.stop();
  });

  it('loses no request when one instance dies mid-stream: the survivor answers every retry', async () => {
    const doomed = await h.startInstance();
    let answered = 0;
    let killed = false;
    const attempts: number[] = [];
    const worker = async (w: number) => {
      for (let i = 0; i < 60; i++) {
        attempts.push(await getDevice(accounts[(w + i) % accounts.length]!, 500));
        answered += 1;
        if (answered === 100 && !killed) {
          killed = true;
          // A crash: the connection goes without draining, requests it held are never answered.
          await doomed.nats.close();
        }
      }
    };
    await Promise.all(Array.from({ length: 5 }, (_, w) => worker(w)));
    expect(killed).toBe(true);
    expect(answered).toBe(300);
    expect(attempts).toHaveLength(300);
    expect(await handled(doomed, 'v1.registry.get_device')).toBeGreaterThan(0);
    await doomed.stop();
  });
  it('a graceful stop mid-stream answers everything it took: no request needs a retry', async () => {
    const leaving = await h.startInstance();
    let answered = 0;
    let stopping: Promise<void> | undefined;
    const attempts: number[] = [];
    const worker = async (w: number) => {
      for (let i = 0; i < 60; i++) {
        attempts.push(await getDevice(accounts[(w + i) % accounts.length]!, 5000));
        answered += 1;
        if (answered === 100) stopping = leaving.stop();
      }
    };
    await Promise.all(Array.from({ length: 5 }, (_, w) => worker(w)));
    await stopping;
    expect(answered).toBe(300);
    expect(attempts.every((a) => a === 1)).toBe(true);
  });
});
