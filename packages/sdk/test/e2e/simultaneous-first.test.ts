// Devices that first write to each other at the same instant: every device of every account sends
// to every other account at once (random order, random small delays), before any session exists.
// Each side then holds two sessions per remote device (packages/crypto's session records); every
// message must reach every addressed device's application exactly once, nothing undecryptable.
// (The crypto model test test/slow/simultaneous-property.test.ts runs the same over many seeds
// with arbitrary delivery orders.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, TandemClient, TandemEvents } from '../../src/index.js';
import { collect, linkCompanion, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** A small seeded PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('simultaneous first messages on the real stack', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
  });
  afterAll(async () => {
    await stack.close();
  });

  const seeds = (process.env.SIMULTANEOUS_SEEDS ?? '1,2').split(',').map(Number);
  it.each(seeds)(
    '10 devices in 5 accounts, all writing at once (seed %d): every copy handed over exactly once',
    async (seed) => {
      const random = prng(seed);
      const accounts: Array<{ phone: TandemClient; companion: TandemClient }> = [];
      for (let a = 0; a < 5; a++) {
        const phone = await registerPhone(stack, `p${a}`, { url: stack.url(a % 2) });
        const companion = await linkCompanion(stack, phone, `c${a}`, { url: stack.url((a + 1) % 2) });
        accounts.push({ phone, companion });
      }
      const devices = accounts.flatMap(({ phone, companion }) => [phone, companion]);
      const got = new Map(devices.map((d) => [d, collect<InboundMessage>((fn) => d.on('message', fn))]));
      const undecryptable = devices.flatMap((d) =>
        collect<TandemEvents['undecryptable']>((fn) => d.on('undecryptable', fn)),
      );

      // Every device writes to every other account, in a seeded random order, with random delays
      // of 0-15 ms, all started together: no session exists between any two devices yet. Three
      // waves, each started as soon as the previous one was accepted (not delivered), so later
      // messages go out under whatever session each side holds while the first ones cross.
      const sends: Array<{ from: TandemClient; to: string; text: string }> = [];
      for (let wave = 0; wave < 3; wave++) {
        const batch: typeof sends = [];
        for (const from of devices)
          for (const { phone } of accounts)
            if (phone.accountId !== from.accountId)
              batch.push({
                from,
                to: phone.accountId,
                text: `${from.accountId.slice(0, 8)}/${from.deviceId}->${phone.accountId.slice(0, 8)} #${wave}`,
              });
        for (let i = batch.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [batch[i], batch[j]] = [batch[j]!, batch[i]!];
        }
        const results = await Promise.allSettled(
          batch.map(async (s) => {
            await new Promise((r) => setTimeout(r, Math.floor(random() * 15)));
            return s.from.send(s.to, { text: s.text });
          }),
        );
        expect(
          results
            .filter((r) => r.status === 'rejected')
            .map((r) => String((r as PromiseRejectedResult).reason)),
        ).toEqual([]);
        sends.push(...batch);
      }

      // Each message goes to the recipient's 2 devices and the sender's other device.
      const expected = new Map<TandemClient, string[]>(devices.map((d) => [d, []]));
      for (const s of sends) {
        for (const d of devices) {
          if (d === s.from) continue;
          if (d.accountId === s.to || d.accountId === s.from.accountId) expected.get(d)!.push(s.text);
        }
      }
      const total = [...expected.values()].reduce((n, l) => n + l.length, 0);
      await waitUntil(
        () => devices.every((d) => got.get(d)!.length >= expected.get(d)!.length),
        `all ${total} copies at the applications`,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 500)); // anything extra (a duplicate) would show by now
      for (const d of devices) {
        expect(
          got
            .get(d)!
            .map((m) => m.text)
            .sort(),
        ).toEqual(expected.get(d)!.sort());
      }
      expect(undecryptable).toEqual([]);
      await Promise.all(devices.map((d) => d.close()));
    },
    180_000,
  );
});
