import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Platform } from '@tandem/proto';
import { type InboundMessage, TandemClient } from '../../src/index.js';
import { collect, options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('a phone registers and a web companion links by QR', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it("links the companion, which then receives the phone's history and decrypts it", async () => {
    const phone = await registerPhone(stack, 'alice');
    expect(phone.isPrimary).toBe(true);
    expect(phone.deviceId).toBe(1);

    const session = await TandemClient.link({ ...options(stack), name: 'web', platform: Platform.WEB });
    expect(session.qr).toMatch(/^tandem1:/);
    const { deviceId } = await phone.approveLink(session.qr);
    const web = await session.done;
    expect(web.deviceId).toBe(deviceId);
    expect(web.accountId).toBe(phone.accountId);
    expect(web.isPrimary).toBe(false);

    // Both devices see the same verified device list.
    const seenByPhone = await phone.devices();
    const seenByWeb = await web.devices();
    expect(seenByPhone.map((d) => d.deviceId)).toEqual([1, deviceId]);
    expect(seenByWeb.map((d) => d.deviceId)).toEqual([1, deviceId]);

    const history = collect<{ data: Uint8Array }>((fn) => web.on('history', fn));
    const chats = new TextEncoder().encode(
      JSON.stringify([{ from: 'bob', text: 'old message 1' }, { text: 'old 2' }]),
    );
    await phone.sendHistory(deviceId, chats);
    await waitUntil(() => history.length === 1, 'history on the companion');
    expect(new TextDecoder().decode(history[0]!.data)).toBe(new TextDecoder().decode(chats));

    // The companion now talks on its own: a message from it reaches the phone as a sync copy.
    const onPhone = collect<InboundMessage>((fn) => phone.on('message', fn));
    const bob = await registerPhone(stack, 'bob');
    await web.send(bob.accountId, { text: 'hi bob, from the web' });
    await waitUntil(() => onPhone.length === 1, 'sync copy on the phone');
    expect(onPhone[0]).toMatchObject({
      text: 'hi bob, from the web',
      sentTo: bob.accountId,
      from: { deviceId },
    });
    await Promise.all([phone.close(), web.close(), bob.close()]);
  });
});
