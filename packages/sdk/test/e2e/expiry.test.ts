import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReceiptEvent } from '../../src/index.js';
import { collect, linkCompanion, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('expiry', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ deliveryEnv: { COPY_TTL_MS: '1500', SWEEP_INTERVAL_MS: '100' } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('tells the sender which device never got a message whose TTL passed', async () => {
    const hank = await registerPhone(stack, 'hank');
    const ida = await registerPhone(stack, 'ida');
    const idaTablet = await linkCompanion(stack, ida, 'tablet');
    await idaTablet.close(); // stays offline past the TTL

    const receipts = collect<ReceiptEvent>((fn) => hank.on('receipt', fn));
    const sent = await hank.send(ida.accountId, { text: 'will expire on the tablet' });
    await waitUntil(() => receipts.length === 2, 'a delivered and an expired receipt', 10_000);
    const byKind = Object.fromEntries(receipts.map((r) => [r.kind, r]));
    expect(byKind.delivered).toMatchObject({
      clientMessageId: sent.clientMessageId,
      device: { accountId: ida.accountId, deviceId: 1 },
    });
    expect(byKind.expired).toMatchObject({
      clientMessageId: sent.clientMessageId,
      device: { accountId: ida.accountId, deviceId: idaTablet.deviceId },
    });
    // Exactly one expired receipt, even after more sweeps.
    await new Promise((r) => setTimeout(r, 500));
    expect(receipts.filter((r) => r.kind === 'expired')).toHaveLength(1);
    await Promise.all([hank.close(), ida.close()]);
  });
});
