import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InboundMessage, MemoryStore, TandemClient, TandemError } from '../../src/index.js';
import {
  collect,
  linkCompanion,
  options,
  registerPhone,
  type Stack,
  startStack,
  waitUntil,
} from './stack.js';

describe('companion limit and unlinking', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('refuses a fifth companion with DEVICE_LIMIT naming how many are linked', async () => {
    const phone = await registerPhone(stack, 'erin');
    const companions = [];
    for (let i = 0; i < 4; i++) companions.push(await linkCompanion(stack, phone, `c${i}`));
    const fifth = await TandemClient.link({ ...options(stack), name: 'c5' });
    const refused = await phone.approveLink(fifth.qr).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TandemError);
    expect((refused as TandemError).code).toBe('DEVICE_LIMIT');
    expect((refused as TandemError).extra.linkedCount).toBe(4);
    // The waiting companion is told its link ended.
    await expect(fifth.done).rejects.toMatchObject({ code: 'LINK_CANCELLED' });
    expect((await phone.devices()).length).toBe(5);
    await Promise.all([phone, ...companions].map((c) => c.close()));
  });

  it('disconnects an unlinked companion at once, wipes it, and sends it nothing afterwards', async () => {
    const phone = await registerPhone(stack, 'fay');
    const laptop = await linkCompanion(stack, phone, 'laptop');
    const laptopStore = (
      laptop as unknown as { options: { store: import('../../src/index.js').KeyValueStore } }
    ).options.store;
    const gus = await registerPhone(stack, 'gus');
    const onLaptop = collect<InboundMessage>((fn) => laptop.on('message', fn));
    const unlinked = laptop.once('unlinked');

    const started = Date.now();
    await phone.unlink(laptop.deviceId);
    await unlinked;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(laptop.connected).toBe(false);
    expect(await laptopStore.list('')).toEqual([]);

    // Gus's next message reaches fay's phone only: the laptop is no longer a device of the account.
    const onPhone = collect<InboundMessage>((fn) => phone.on('message', fn));
    const result = await gus.send(phone.accountId, { text: 'after unlink' });
    expect(result.copies.map((c) => c.deviceId)).toEqual([1]);
    await waitUntil(() => onPhone.length === 1, 'the phone to receive');
    expect(onLaptop).toEqual([]);
    expect((await phone.devices()).map((d) => d.deviceId)).toEqual([1]);
    await Promise.all([phone.close(), gus.close()]);
  });

  it('wipes a companion that was unlinked while it was offline, at its next connect, and stops retrying', async () => {
    const phone = await registerPhone(stack, 'hal');
    const store = new MemoryStore();
    const tablet = await linkCompanion(stack, phone, 'tablet', { store });
    await tablet.close();
    await phone.unlink(tablet.deviceId);

    const again = await TandemClient.open(options(stack, { store }));
    const unlinked = again.once('unlinked');
    const refused = await again.connect().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TandemError);
    expect((refused as TandemError).code).toBe('DEVICE_REVOKED');
    await unlinked;
    expect(await store.list('')).toEqual([]);
    expect(again.connected).toBe(false);
    await phone.close();
  });
});
