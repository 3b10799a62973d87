import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, ReceiptEvent } from '../../src/index.js';
import { collect, linkCompanion, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('client fan-out to every device', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
  });
  afterAll(async () => {
    await stack.close();
  });

  it("delivers each message to all of the contact's devices and a sync copy to the sender's other devices", async () => {
    // The contact's devices sit on two gateways: routing crosses gateways over NATS.
    const carol = await registerPhone(stack, 'carol');
    const carolTablet = await linkCompanion(stack, carol, 'tablet', { url: stack.url(1) });
    const carolDesktop = await linkCompanion(stack, carol, 'desktop');
    const dave = await registerPhone(stack, 'dave', { url: stack.url(1) });
    const daveWeb = await linkCompanion(stack, dave, 'web');

    const got = new Map<string, InboundMessage[]>();
    for (const [name, c] of Object.entries({ carol, carolTablet, carolDesktop, daveWeb })) {
      got.set(
        name,
        collect<InboundMessage>((fn) => c.on('message', fn)),
      );
    }
    const receipts = collect<ReceiptEvent>((fn) => dave.on('receipt', fn));
    const sent = [];
    for (const text of ['m1', 'm2', 'm3']) sent.push(await dave.send(carol.accountId, { text }));
    expect(sent.every((s) => s.copies.length === 4)).toBe(true); // 3 of carol's + dave's web

    await waitUntil(
      () => [...got.values()].every((list) => list.length === 3),
      'every device to get 3 messages',
    );
    for (const name of ['carol', 'carolTablet', 'carolDesktop']) {
      expect(got.get(name)!.map((m) => m.text)).toEqual(['m1', 'm2', 'm3']);
      expect(got.get(name)!.every((m) => m.from.accountId === dave.accountId && m.sentTo === undefined)).toBe(
        true,
      );
    }
    expect(got.get('daveWeb')!.map((m) => [m.text, m.sentTo])).toEqual([
      ['m1', carol.accountId],
      ['m2', carol.accountId],
      ['m3', carol.accountId],
    ]);
    // A delivered receipt for every copy, naming each recipient device.
    await waitUntil(() => receipts.length === 12, '12 delivered receipts');
    expect(receipts.every((r) => r.kind === 'delivered')).toBe(true);
    const devicesPerMessage = new Map<string, string[]>();
    for (const r of receipts) {
      const list = devicesPerMessage.get(r.clientMessageId) ?? [];
      list.push(`${r.device.accountId === carol.accountId ? 'carol' : 'dave'}/${r.device.deviceId}`);
      devicesPerMessage.set(r.clientMessageId, list);
    }
    for (const s of sent) {
      expect(devicesPerMessage.get(s.clientMessageId)!.sort()).toEqual(
        [
          'carol/1',
          `carol/${carolTablet.deviceId}`,
          `carol/${carolDesktop.deviceId}`,
          `dave/${daveWeb.deviceId}`,
        ].sort(),
      );
    }
    await Promise.all([carol, carolTablet, carolDesktop, dave, daveWeb].map((c) => c.close()));
  });

  it('loses nothing when the application sends concurrently while messages arrive: every text once, both ways', async () => {
    // Sends and receives share the ratchet sessions; without one lock around each step, two
    // concurrent sends used the same ratchet step and the receiver dropped the second as a replay.
    const erin = await registerPhone(stack, 'erin');
    const erinLaptop = await linkCompanion(stack, erin, 'laptop');
    const finn = await registerPhone(stack, 'finn', { url: stack.url(1) });
    const atErin = collect<InboundMessage>((fn) => erin.on('message', fn));
    const atLaptop = collect<InboundMessage>((fn) => erinLaptop.on('message', fn));
    const atFinn = collect<InboundMessage>((fn) => finn.on('message', fn));
    const warnings = collect<{ message: string }>((fn) => {
      erin.on('warning', fn);
      erinLaptop.on('warning', fn);
      finn.on('warning', fn);
    });
    await erin.send(finn.accountId, { text: 'hello' }); // sessions exist before the burst
    await waitUntil(() => atFinn.length === 1, 'the first message');

    const fromErin = Array.from({ length: 12 }, (_, i) => `e${i}`);
    const fromFinn = Array.from({ length: 12 }, (_, i) => `f${i}`);
    const sent = await Promise.all([
      ...fromErin.map((text) => erin.send(finn.accountId, { text })),
      ...fromFinn.map((text) => finn.send(erin.accountId, { text })),
    ]);
    expect(new Set(sent.map((r) => r.clientMessageId)).size).toBe(24);

    await waitUntil(
      () => atFinn.length === 13 && atErin.length === 12 && atLaptop.length === 25,
      'every concurrent message at every device',
    );
    expect(atFinn.map((m) => m.text).sort()).toEqual(['hello', ...fromErin].sort());
    expect(atErin.map((m) => m.text).sort()).toEqual([...fromFinn].sort());
    // Erin's laptop gets Finn's messages and a sync copy of each of Erin's, 'hello' included.
    expect(
      atLaptop
        .filter((m) => m.sentTo === undefined)
        .map((m) => m.text)
        .sort(),
    ).toEqual([...fromFinn].sort());
    expect(
      atLaptop
        .filter((m) => m.sentTo === finn.accountId)
        .map((m) => m.text)
        .sort(),
    ).toEqual(['hello', ...fromErin].sort());
    expect(warnings).toEqual([]);
    await Promise.all([erin, erinLaptop, finn].map((c) => c.close()));
  });
});
