import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InboundMessage, MemoryStore, TandemClient } from '../../src/index.js';
import {
  collect,
  linkCompanion,
  options,
  registerPhone,
  type Stack,
  startStack,
  waitUntil,
} from './stack.js';

describe('a companion works on its own while the phone is off', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('sends and receives with the phone offline; the returning phone gets everything it missed, in order, once', async () => {
    const phoneStore = new MemoryStore();
    const phone = await registerPhone(stack, 'alice', { store: phoneStore });
    const web = await linkCompanion(stack, phone, 'web');
    const bob = await registerPhone(stack, 'bob');

    await phone.close(); // the phone is switched off

    const onWeb = collect<InboundMessage>((fn) => web.on('message', fn));
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    for (const text of ['one', 'two', 'three']) await bob.send(phone.accountId, { text });
    await web.send(bob.accountId, { text: 'web to bob' });
    await waitUntil(() => onWeb.length === 3 && onBob.length === 1, 'messages while the phone is off');
    expect(onWeb.map((m) => m.text)).toEqual(['one', 'two', 'three']);
    expect(onBob[0]).toMatchObject({
      text: 'web to bob',
      from: { accountId: phone.accountId, deviceId: web.deviceId },
    });

    // Restart delivery while the phone's copies sit in its queue: accepted copies survive.
    await stack.restartDelivery();

    const back = await TandemClient.open(options(stack, { store: phoneStore }));
    const onPhone = collect<InboundMessage>((fn) => back.on('message', fn));
    const drained = back.once('queue-empty');
    await back.connect();
    await drained;
    // Bob's three messages in order, then the sync copy of what the web companion sent.
    expect(onPhone.map((m) => [m.text, m.sentTo ?? null])).toEqual([
      ['one', null],
      ['two', null],
      ['three', null],
      ['web to bob', bob.accountId],
    ]);
    // Reconnecting again delivers nothing twice.
    await back.close();
    const again = await TandemClient.open(options(stack, { store: phoneStore }));
    const replayed = collect<InboundMessage>((fn) => again.on('message', fn));
    const drainedAgain = again.once('queue-empty');
    await again.connect();
    await drainedAgain;
    expect(replayed).toEqual([]);
    await Promise.all([again.close(), web.close(), bob.close()]);
  });
});
