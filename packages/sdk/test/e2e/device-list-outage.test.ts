// A receiver that cannot fetch a sender's device list right now (the registry is away, the
// request times out) keeps the copy unacknowledged and tries again: the message arrives once the
// registry is back. Before, it was acknowledged as "not a verified device" and lost for good.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type InboundMessage,
  MemoryStore,
  type ReceiptEvent,
  TandemClient,
  type TandemEvents,
} from '../../src/index.js';
import { collect, options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('a device-list fetch that fails while a copy is received', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { BUS_TIMEOUT_MS: '500' } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('keeps the copy, tries again and delivers it once the registry answers', async () => {
    const bobStore = new MemoryStore();
    const first = await registerPhone(stack, 'bob', { store: bobStore });
    const charlie = await registerPhone(stack, 'charlie');
    const charlieReceipts = collect<ReceiptEvent>((fn) => charlie.on('receipt', fn));
    const warmUp = collect<InboundMessage>((fn) => first.on('message', fn));
    // While the registry is up: a first message (the gateway now holds both device lists), then
    // Bob's device restarts, so it no longer has Charlie's list in memory.
    await charlie.send(first.accountId, { text: 'warm-up' });
    await waitUntil(() => warmUp.length === 1, 'the warm-up');
    await first.close();
    const bob = await TandemClient.open(options(stack, { store: bobStore }));
    const bobGot = collect<InboundMessage>((fn) => bob.on('message', fn));
    const bobWarnings = collect<TandemEvents['warning']>((fn) => bob.on('warning', fn));
    await bob.connect();
    await waitUntil(() => charlieReceipts.length === 1, "the warm-up's receipt");

    await stack.stopRegistry();
    const sent = await charlie.send(bob.accountId, { text: 'while the registry was away' });
    await waitUntil(
      () => bobWarnings.some((w) => w.message.includes('could not fetch the device list')),
      "Bob's failed fetch",
      10_000,
    );
    expect(bobGot).toEqual([]);
    expect(charlieReceipts).toHaveLength(1); // the copy was not acknowledged
    await stack.resumeRegistry();
    await waitUntil(() => bobGot.length === 1, 'the message once the registry is back', 30_000);
    expect(bobGot[0]).toMatchObject({
      text: 'while the registry was away',
      clientMessageId: sent.clientMessageId,
    });
    expect(bobWarnings.some((w) => w.message.includes('not a verified device'))).toBe(false);
    await waitUntil(() => charlieReceipts.length === 2, 'its delivered receipt', 10_000);
    expect(charlieReceipts.map((r) => r.kind)).toEqual(['delivered', 'delivered']);
    await new Promise((r) => setTimeout(r, 300));
    expect(bobGot).toHaveLength(1);
    await Promise.all([bob.close(), charlie.close()]);
  }, 60_000);
});
