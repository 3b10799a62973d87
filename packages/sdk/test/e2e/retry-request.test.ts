// A copy that does not decrypt is never acknowledged and dropped: the recipient asks the sending
// device for it again (a RetryRequest under a fresh session), the sender resends it to that device
// alone, and the application sees the message once, under its original id. The sender's status
// for that device is `delivered` only after the resend arrived, and `failed` if the device gives up.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type InboundMessage,
  type KeyValueStore,
  MemoryStore,
  type ReceiptEvent,
  type TandemEvents,
} from '../../src/index.js';
import { collect, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** A store that silently forgets every session it is given for `accountId` (a broken device). */
class ForgetfulStore extends MemoryStore implements KeyValueStore {
  constructor(private readonly forgetPrefix: () => string | undefined) {
    super();
  }
  override async write(entries: ReadonlyArray<readonly [string, Uint8Array | undefined]>): Promise<void> {
    const prefix = this.forgetPrefix();
    await super.write(prefix ? entries.filter(([k]) => !k.startsWith(prefix)) : entries);
  }
}

describe('retry requests after a copy that does not decrypt', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('asks the sender again, gets a resend under a new session, and shows the message once under its id', async () => {
    const alice = await registerPhone(stack, 'alice');
    const bobStore = new MemoryStore();
    const bob = await registerPhone(stack, 'bob', { store: bobStore });
    const bobGot = collect<InboundMessage>((fn) => bob.on('message', fn));
    const aliceReceipts = collect<ReceiptEvent>((fn) => alice.on('receipt', fn));
    const bobWarnings = collect<TandemEvents['warning']>((fn) => bob.on('warning', fn));

    await alice.send(bob.accountId, { text: 'first' });
    await waitUntil(() => bobGot.length === 1, 'the first message');
    const reply = await bob.send(alice.accountId, { text: 'reply' });
    expect(reply.copies).toHaveLength(1);
    await waitUntil(() => aliceReceipts.length === 1, 'the first delivered receipt');

    // Bob loses every session with Alice's phone: her next normal message cannot decrypt.
    await bobStore.write([[`session/${alice.accountId}/1`, undefined]]);
    const second = await alice.send(bob.accountId, { text: 'second' });

    await waitUntil(() => bobGot.length === 2, 'the second message, resent', 15_000);
    expect(bobGot.map((m) => [m.text, m.clientMessageId])).toEqual([
      ['first', bobGot[0]!.clientMessageId],
      ['second', second.clientMessageId],
    ]);
    expect(bobWarnings.some((w) => w.message.includes('asking for it again'))).toBe(true);
    await waitUntil(
      () => aliceReceipts.some((r) => r.clientMessageId === second.clientMessageId),
      "the second message's receipt",
    );
    // Exactly one receipt for the second message: `delivered`, from the resend — not the ack of the
    // copy Bob could not read.
    await new Promise((r) => setTimeout(r, 300));
    const forSecond = aliceReceipts.filter((r) => r.clientMessageId === second.clientMessageId);
    expect(forSecond.map((r) => [r.kind, r.device.accountId, r.device.deviceId])).toEqual([
      ['delivered', bob.accountId, 1],
    ]);
    // The sessions work again in both directions.
    await bob.send(alice.accountId, { text: 'back to normal' });
    await alice.send(bob.accountId, { text: 'third' });
    await waitUntil(() => bobGot.length === 3, 'the third message');
    expect(bobGot.map((m) => m.text)).toEqual(['first', 'second', 'third']);
    await Promise.all([alice.close(), bob.close()]);
  }, 60_000);

  it('tells both applications when the copy still cannot be decrypted after every resend', async () => {
    const alice = await registerPhone(stack, 'alice');
    let forget: string | undefined;
    const bobStore = new ForgetfulStore(() => forget);
    const bob = await registerPhone(stack, 'bob', { store: bobStore });
    const bobGot = collect<InboundMessage>((fn) => bob.on('message', fn));
    const undecryptable = collect<TandemEvents['undecryptable']>((fn) => bob.on('undecryptable', fn));
    const aliceReceipts = collect<ReceiptEvent>((fn) => alice.on('receipt', fn));

    await alice.send(bob.accountId, { text: 'first' });
    await waitUntil(() => bobGot.length === 1, 'the first message');
    await bob.send(alice.accountId, { text: 'reply' }); // Alice now sends normal messages
    await waitUntil(() => aliceReceipts.length === 1, 'the first delivered receipt');
    // From now on Bob's device keeps no session with Alice's: nothing she sends can decrypt.
    forget = `session/${alice.accountId}/`;
    await MemoryStore.prototype.write.call(bobStore, [[`session/${alice.accountId}/1`, undefined]]);
    const lost = await alice.send(bob.accountId, { text: 'never readable' });

    await waitUntil(() => undecryptable.length === 1, "Bob's undecryptable event", 20_000);
    expect(undecryptable[0]).toEqual({
      from: { accountId: alice.accountId, deviceId: 1 },
      clientMessageId: expect.stringMatching(/^rs\d-/),
    });
    await waitUntil(
      () => aliceReceipts.some((r) => r.clientMessageId === lost.clientMessageId),
      "Alice's failed receipt",
      20_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    const forLost = aliceReceipts.filter((r) => r.clientMessageId === lost.clientMessageId);
    expect(forLost.map((r) => r.kind)).toEqual(['failed']);
    expect(bobGot.map((m) => m.text)).toEqual(['first']);
    await Promise.all([alice.close(), bob.close()]);
  }, 60_000);
});
