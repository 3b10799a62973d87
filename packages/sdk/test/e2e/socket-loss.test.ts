// The hop between a device and its gateway: the WebSocket breaks while a send or an ack is on its
// way. DESIGN.md invariant 3: once the gateway has accepted a send, every copy is queued until the
// recipient device acknowledges it; accepting is idempotent on (sender device, clientMessageId)
// while the copy is queued, and the SDK hands a (sender device, clientMessageId) pair to the
// application once. So whatever part of the round trip the broken socket swallows, the
// application's retry with the id the error carries, and the server's re-delivery of an
// unacknowledged copy, never show a message twice, and the sender is told it was delivered.
//
// Topology: one stack on the machine's Postgres, Redis and NATS. Alice's and Bob's phones each
// reach the gateway through a WsProxy of their own (ws-proxy.ts), which sees every frame, decoded,
// and can drop the frames of one direction on the open connection (which then looks alive to both
// ends) and cut it (the client sees 1006 and reconnects by itself, through the proxy again).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type InboundMessage, type ReceiptEvent, type TandemClient, TandemError } from '../../src/index.js';
import { framesReceived } from './nats-harness.js';
import { collect, registerPhone, type Stack, startStack, waitUntil } from './stack.js';
import { WsProxy } from './ws-proxy.js';

describe("a device's socket to its gateway breaks while a send or an ack is on its way", () => {
  let stack: Stack | undefined;
  let aliceProxy: WsProxy | undefined;
  let bobProxy: WsProxy | undefined;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;
  let toBob: InboundMessage[] = [];
  let receipts: ReceiptEvent[] = [];
  const warnings: string[] = [];
  /** Bob's app keeps handling a message with one of these texts until its promise resolves. */
  const holds = new Map<string, Promise<void>>();
  const releases: Array<() => void> = [];
  /** Removes a message listener a test added to Bob's app (run after each test). */
  const extraListeners: Array<() => void> = [];

  const a = () => alice!;
  const b = () => bob!;
  const ap = () => aliceProxy!;
  const bp = () => bobProxy!;
  const copiesToBob = (text: string) => toBob.filter((m) => m.text === text);
  const receiptsFor = (clientMessageId: string) =>
    receipts.filter((r) => r.clientMessageId === clientMessageId);
  const bobsDevice = () => ({ accountId: b().accountId, deviceId: b().deviceId });
  /** The copies of a message the gateway pushed to Bob (over any connection, dropped or not). */
  const pushedToBob = (clientMessageId: string) =>
    bp().seen({ direction: 'toClient', type: 'deliver', content: 'envelope', clientMessageId });
  /** The receipts for a message the gateway pushed to Alice and that reached her socket. */
  const receiptCopiesToAlice = (clientMessageId: string) =>
    ap().seen({
      direction: 'toClient',
      type: 'deliver',
      content: 'receipt',
      clientMessageId,
      dropped: false,
    });

  /**
   * Bob's app keeps handling the message with this text (so the SDK does not acknowledge it and
   * the copy stays queued) until the returned function is called.
   */
  const holdInBobsApp = (text: string) => {
    let release!: () => void;
    holds.set(text, new Promise<void>((resolve) => (release = resolve)));
    releases.push(release);
    return release;
  };

  /**
   * A send on the healthy path, awaited until Bob's app has it, Alice's app has the receipt and
   * Alice's ack of that receipt was answered: both sockets are idle afterwards, and everything
   * queued to Alice before that receipt (other receipts included) has been handed to her app.
   */
  const settled = async (text: string) => {
    const sent = await a().send(b().accountId, { text });
    await waitUntil(() => copiesToBob(text).length === 1, `Bob to receive "${text}"`);
    await waitUntil(() => receiptsFor(sent.clientMessageId).length > 0, `Alice's receipt for "${text}"`);
    const receipt = receiptCopiesToAlice(sent.clientMessageId).at(-1)!;
    await waitUntil(
      () => ap().ackAnswered(receipt.serverIds[0]!),
      `Alice's ack of the receipt for "${text}"`,
    );
    return sent;
  };

  beforeAll(async () => {
    stack = await startStack();
    aliceProxy = await WsProxy.start(stack.url());
    bobProxy = await WsProxy.start(stack.url());
    alice = await registerPhone(stack, 'alice', { url: aliceProxy.url });
    bob = await registerPhone(stack, 'bob', { url: bobProxy.url });
    toBob = collect<InboundMessage>((fn) => bob!.on('message', fn));
    bob.on('message', async (m) => await holds.get(m.text));
    receipts = collect<ReceiptEvent>((fn) => alice!.on('receipt', fn));
    for (const [name, c] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      c.on('warning', (w) => void warnings.push(`${name}: ${w.message}`));
    }
  }, 30_000);

  // A test that failed half-way leaves no held message, no listener and no half-dead socket to the
  // next one, and both devices connected again.
  afterEach(async () => {
    for (const release of releases) release();
    for (const off of extraListeners.splice(0)) off();
    const back = [
      [alice, aliceProxy],
      [bob, bobProxy],
    ] as const;
    await Promise.all(
      back.map(async ([client, proxy]) => {
        const reconnected = client?.once('connected');
        if (proxy?.restore()) await reconnected;
      }),
    );
    await waitUntil(() => !!alice?.connected && !!bob?.connected, 'both devices to be connected again');
  });

  // Everything is torn down even after a failure: the clients first (no more reconnecting), then
  // the proxies (which also breaks any connection a reconnect had in flight), then the stack.
  afterAll(async () => {
    for (const release of releases) release(); // Bob's close waits for his app's handlers
    aliceProxy?.restore();
    bobProxy?.restore();
    await Promise.allSettled([alice?.close(), bob?.close()]);
    await Promise.allSettled([aliceProxy?.close(), bobProxy?.close()]);
    await stack?.close();
  }, 30_000);

  it("rejects send() with DISCONNECTED and the clientMessageId when Alice's socket breaks after the gateway stored the message and Bob acknowledged it; the SDK reconnects by itself, the application's retry with that id resolves (the server stores it again), Bob's app gets the message once, and Alice's app hears once that it was delivered", async () => {
    await settled('warm-up 1');
    const text = 'stored, answer lost, acknowledged';
    const aliceConnection = ap().opened;

    // Alice's socket goes deaf: her send reaches the gateway, the answer never reaches her.
    ap().discardFromGateway();
    const sending = a().send(b().accountId, { text });
    sending.catch(() => undefined); // awaited below; no unhandled rejection if the test fails first
    await waitUntil(() => copiesToBob(text).length === 1, 'delivery to store the copy and Bob to get it');
    const first = copiesToBob(text)[0]!;
    await waitUntil(
      () => ap().seen({ direction: 'toClient', type: 'sendResult', dropped: true }).length === 1,
      "the gateway's answer to Alice",
    );
    // The gateway did accept: its (lost) answer names the copy Bob got.
    expect(ap().seen({ direction: 'toClient', type: 'sendResult', dropped: true })).toEqual([
      expect.objectContaining({ serverIds: [first.serverId], connection: aliceConnection }),
    ]);
    // Bob's SDK acknowledged the copy and delivery answered: it has left his queue, and with it
    // the server's idempotency entry for (Alice's phone, clientMessageId).
    await waitUntil(() => bp().ackAnswered(first.serverId), "Bob's ack of the first copy");

    const reconnected = a().once('connected');
    ap().cut();
    const error = await sending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TandemError);
    expect(error).toMatchObject({ code: 'DISCONNECTED', extra: { clientMessageId: first.clientMessageId } });
    const clientMessageId = (error as TandemError).extra.clientMessageId!;

    // The SDK reconnects on its own, through the proxy, on a new connection.
    await reconnected;
    expect(a().connected).toBe(true);
    expect(ap().opened).toBe(aliceConnection + 1);

    const retried = await a().send(b().accountId, { text }, { clientMessageId });
    expect(retried.clientMessageId).toBe(clientMessageId);
    // The first copy was acknowledged before the retry came, so the server stored it again
    // (apps/delivery/README.md, "Idempotency window"): a second copy with a new server id.
    expect(retried.copies).toEqual([{ ...bobsDevice(), serverId: expect.any(String) }]);
    const second = retried.copies[0]!.serverId;
    expect(second).not.toBe(first.serverId);
    // The gateway pushed it to Bob; his SDK acknowledged it without handing it to his app, which
    // already had this (Alice's phone, clientMessageId).
    await waitUntil(() => bp().ackAnswered(second), "Bob's ack of the second copy");
    expect(pushedToBob(clientMessageId).map((f) => f.serverIds[0])).toEqual([first.serverId, second]);
    expect(copiesToBob(text)).toHaveLength(1);

    // Both receipts were queued to Alice before Bob's acks were answered, so they come before this
    // message's receipt, which `settled` waits for.
    await settled('after 1');
    expect(copiesToBob(text)).toHaveLength(1);
    // Receipts. The server sends one delivered receipt per stored copy, so Alice's socket carried
    // two for this message: the first one, lost with the deaf socket and delivered again from her
    // queue after the reconnect, and the second copy's. Her SDK reports each (message, device,
    // kind) once: one `delivered` event naming Bob's phone.
    const distinctReceiptCopies = new Set(receiptCopiesToAlice(clientMessageId).map((f) => f.serverIds[0]));
    expect(distinctReceiptCopies.size).toBe(2);
    expect(receiptsFor(clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: bobsDevice() }),
    ]);
  }, 20_000);

  it("answers the application's retry with the very copy the server already queued when Alice's socket breaks after the gateway stored the message but before Bob acknowledged it: Bob's app gets it once and Alice exactly one delivered receipt", async () => {
    await settled('warm-up 2');
    const text = 'stored, answer lost, still queued';
    const releaseBob = holdInBobsApp(text); // Bob's SDK acknowledges only after his app is done

    ap().discardFromGateway();
    const sending = a().send(b().accountId, { text });
    sending.catch(() => undefined);
    await waitUntil(() => copiesToBob(text).length === 1, 'delivery to store the copy and Bob to get it');
    const first = copiesToBob(text)[0]!;
    await waitUntil(
      () => ap().seen({ direction: 'toClient', type: 'sendResult', serverId: first.serverId }).length === 1,
      "the gateway's answer to Alice",
    );

    const reconnected = a().once('connected');
    ap().cut();
    const error = await sending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TandemError);
    expect(error).toMatchObject({ code: 'DISCONNECTED', extra: { clientMessageId: first.clientMessageId } });
    await reconnected;

    // The copy is still queued, so the retry is answered from the idempotency entry: the same
    // server id, nothing stored or pushed a second time.
    const retried = await a().send(b().accountId, { text }, { clientMessageId: first.clientMessageId });
    expect(retried.copies).toEqual([{ ...bobsDevice(), serverId: first.serverId }]);
    expect(pushedToBob(first.clientMessageId)).toHaveLength(1);
    expect(receiptsFor(first.clientMessageId)).toEqual([]); // Bob's app still has it

    releaseBob();
    await waitUntil(() => receiptsFor(first.clientMessageId).length > 0, "Alice's receipt");
    await settled('after 2');
    expect(copiesToBob(text)).toHaveLength(1);
    expect(pushedToBob(first.clientMessageId)).toHaveLength(1);
    expect(receiptsFor(first.clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: bobsDevice() }),
    ]);
  }, 20_000);

  it("rejects send() with DISCONNECTED and the clientMessageId when Alice's socket breaks before her send reaches the gateway; after the SDK reconnects the retry with that id is accepted, Bob's app gets the message once and Alice exactly one delivered receipt", async () => {
    await settled('warm-up 3');
    const text = 'lost on the way to the gateway';
    const sendsBefore = await framesReceived(stack!, 0, 'send');

    // Alice's socket goes mute: what she sends never reaches the gateway.
    ap().discardFromClient();
    const sending = a().send(b().accountId, { text });
    sending.catch(() => undefined);
    await waitUntil(
      () => ap().seen({ direction: 'toGateway', type: 'send', dropped: true }).length === 1,
      "Alice's send to be lost on the way",
    );
    const lost = ap().seen({ direction: 'toGateway', type: 'send', dropped: true })[0]!;

    const reconnected = a().once('connected');
    ap().cut();
    const error = await sending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TandemError);
    expect(error).toMatchObject({ code: 'DISCONNECTED', extra: { clientMessageId: lost.clientMessageId } });
    const clientMessageId = (error as TandemError).extra.clientMessageId!;
    expect(await framesReceived(stack!, 0, 'send')).toBe(sendsBefore); // the gateway never saw it
    await reconnected;
    expect(copiesToBob(text)).toEqual([]);

    const retried = await a().send(b().accountId, { text }, { clientMessageId });
    expect(retried.clientMessageId).toBe(clientMessageId);
    await waitUntil(() => copiesToBob(text).length === 1, 'Bob to receive the retried message');
    expect(copiesToBob(text)[0]).toMatchObject({ clientMessageId, serverId: retried.copies[0]!.serverId });

    await settled('after 3');
    expect(copiesToBob(text)).toHaveLength(1);
    expect(pushedToBob(clientMessageId)).toHaveLength(1);
    // One copy was stored, so there is one receipt.
    expect(receiptsFor(clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: bobsDevice() }),
    ]);
  }, 20_000);

  it('delivers the copy again after Bob reconnects when his socket broke after his app had the message but before his ack reached the gateway; his app does not see it twice, and Alice gets one delivered receipt', async () => {
    await settled('warm-up 4');
    const text = 'ack lost on the way';
    // Bob's socket goes mute the moment his app has the message: the SDK's ack, sent after this
    // listener returns, never reaches the gateway.
    extraListeners.push(
      b().on('message', (m) => {
        if (m.text === text) bp().discardFromClient();
      }),
    );
    const bobConnection = bp().opened;
    const sent = await a().send(b().accountId, { text });
    const serverId = sent.copies[0]!.serverId;
    await waitUntil(
      () => bp().seen({ direction: 'toGateway', type: 'ack', serverId, dropped: true }).length > 0,
      "Bob's ack to be lost on the way",
    );
    expect(copiesToBob(text)).toHaveLength(1);
    expect(receiptsFor(sent.clientMessageId)).toEqual([]); // never acknowledged, so still queued

    const reconnected = b().once('connected');
    bp().cut();
    await reconnected;
    // The gateway drains Bob's queue on the new connection, the copy included; his SDK knows the
    // server id and acknowledges it without handing it to his app again.
    await waitUntil(() => bp().ackAnswered(serverId), "Bob's ack on the new connection");
    expect(pushedToBob(sent.clientMessageId).map((f) => [f.serverIds[0], f.connection])).toEqual([
      [serverId, bobConnection],
      [serverId, bobConnection + 1],
    ]);
    expect(copiesToBob(text)).toHaveLength(1);
    await waitUntil(() => receiptsFor(sent.clientMessageId).length > 0, "Alice's receipt");

    await settled('after 4');
    expect(copiesToBob(text)).toHaveLength(1);
    expect(receiptsFor(sent.clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: bobsDevice() }),
    ]);
  }, 20_000);

  it("gives Bob's app the message once when his socket breaks while his app is still handling it and the copy is delivered again before the app is done; Alice gets one delivered receipt", async () => {
    await settled('warm-up 5');
    const text = 'socket lost while the app handles it';
    const bobConnection = bp().opened;
    // Bob's app is still busy with the message while the socket breaks, the SDK reconnects and the
    // gateway pushes the unacknowledged copy again on the new connection.
    extraListeners.push(
      b().on('message', async (m) => {
        if (m.text !== text) return;
        const reconnected = b().once('connected');
        bp().cut();
        await reconnected;
        await waitUntil(
          () =>
            bp().seen({ type: 'deliver', serverId: m.serverId, connection: bobConnection + 1 }).length > 0,
          'the copy to be pushed again on the new connection',
        );
      }),
    );
    const sent = await a().send(b().accountId, { text });
    const serverId = sent.copies[0]!.serverId;
    await waitUntil(() => receiptsFor(sent.clientMessageId).length > 0, "Alice's receipt");

    await settled('after 5');
    expect(copiesToBob(text)).toHaveLength(1);
    expect(pushedToBob(sent.clientMessageId).map((f) => [f.serverIds[0], f.connection])).toEqual([
      [serverId, bobConnection],
      [serverId, bobConnection + 1],
    ]);
    expect(receiptsFor(sent.clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: bobsDevice() }),
    ]);
  }, 20_000);

  it('delivered every message to Bob once and in order, and the SDKs reconnected only after the cuts', () => {
    expect(toBob.map((m) => m.text)).toEqual([
      'warm-up 1',
      'stored, answer lost, acknowledged',
      'after 1',
      'warm-up 2',
      'stored, answer lost, still queued',
      'after 2',
      'warm-up 3',
      'lost on the way to the gateway',
      'after 3',
      'warm-up 4',
      'ack lost on the way',
      'after 4',
      'warm-up 5',
      'socket lost while the app handles it',
      'after 5',
    ]);
    expect(new Set(toBob.map((m) => m.serverId)).size).toBe(toBob.length);
    // Nothing failed to decrypt or was dropped as unverified along the way (a request cut off with
    // its socket, e.g. a prekey top-up, is retried on the next connection and may warn).
    expect(warnings.filter((w) => !w.includes('prekey top-up failed'))).toEqual([]);
    expect(ap().opened).toBe(1 + ap().cuts);
    expect(bp().opened).toBe(1 + bp().cuts);
  });
});
