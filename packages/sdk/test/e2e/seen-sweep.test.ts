// The bookkeeping a device keeps per received copy (`seen/…`) expires after 31 days. Expired
// entries are swept at most once a day, in chunks, instead of every key being read on every
// connect: reconnecting a device with a large history costs no scan of it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryStore, TandemClient } from '../../src/index.js';
import { options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** Counts the store's `list('seen/')` calls. */
class CountingStore extends MemoryStore {
  seenScans = 0;
  override async list(prefix: string): Promise<string[]> {
    if (prefix === 'seen/') this.seenScans++;
    return super.list(prefix);
  }
}

describe('expiry of seen/ bookkeeping', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('removes expired entries in one daily sweep and does not scan on every connect', async () => {
    const store = new CountingStore();
    const now = Date.now();
    const phone = await registerPhone(stack, 'hoarder', { store });
    await waitUntil(() => store.seenScans === 1, 'the first sweep');
    await phone.close();
    const day = 24 * 3600 * 1000;
    // 1,200 entries from 40 days ago (expired) and 300 from yesterday (kept).
    const old = now - 40 * day;
    const entries: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 1200; i++) entries.push([`seen/old-${i}`, new TextEncoder().encode(String(old))]);
    for (let i = 0; i < 300; i++)
      entries.push([`seen/new-${i}`, new TextEncoder().encode(String(now - day))]);
    await store.write(entries);

    // Reconnecting within the day: no scan.
    const again = await TandemClient.open(options(stack, { store }));
    await again.connect();
    await new Promise((r) => setTimeout(r, 200));
    expect(store.seenScans).toBe(1);
    await again.close();
    expect((await store.list('seen/old-')).length).toBe(1200);

    // A day later: one sweep, in chunks; the expired entries go, the others stay.
    // The last sweep was more than a day ago (the device's clock is what counts; the server's
    // check of the auth timestamp forbids moving it, so the record of the sweep moves instead).
    await store.write([['meta/seen-swept-at', new TextEncoder().encode(String(now - day - 1000))]]);
    const later = await TandemClient.open(options(stack, { store }));
    await later.connect();
    await waitUntil(() => store.seenScans === 2, 'the daily sweep');
    const deadline = Date.now() + 5000;
    while ((await store.list('seen/old-')).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await store.list('seen/old-')).length).toBe(0);
    expect((await store.list('seen/new-')).length).toBe(300);
    expect(store.seenScans).toBe(2); // (the polling above lists 'seen/old-', which is not counted)
    await later.close();
  }, 60_000);
});
