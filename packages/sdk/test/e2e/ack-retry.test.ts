// An acknowledgement lost in a NATS outage of the recipient's gateway. The gateway pushes a copy to
// a socket once (a re-drain after a NATS reconnect starts after the highest seq it forwarded), so
// an ack that fails is never prompted again on that socket: unless the SDK sends it again, the
// copy stays queued until its TTL passes and the sender is told "expired" for a message the
// recipient has (DESIGN.md invariant 3: it leaves a queue only by an ack or by its TTL).
//
// Topology: Alice's phone and Carol's phone on gateway 0, which connects to the test's own NATS
// directly; Bob's phone on gateway 1, which connects through a TCP proxy that the test cuts at the
// moment Bob's app has the message, so the SDK's ack finds the gateway off the bus.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, ReceiptEvent, SendResult, TandemClient } from '../../src/index.js';
import {
  logLinesSince,
  type NatsServer,
  shutDown,
  startNatsWithProxy,
  type TcpProxy,
} from './nats-harness.js';
import { collect, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** A copy's time to live, short so that waiting it out is cheap. */
const COPY_TTL_MS = 10_000;
/** Bob's gateway's timeout of one request to delivery (the default 3 s only makes this slower). */
const BUS_TIMEOUT_MS = 1_000;
/** The message whose ack is lost: Bob's gateway loses NATS while Bob's app handles it. */
const CUT_TEXT = 'acknowledged while the gateway is off the bus';

describe("an ack lost while the recipient's gateway is off NATS", () => {
  let natsServer: NatsServer | undefined;
  let proxy: TcpProxy | undefined;
  let stack: Stack | undefined;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;
  let carol: TandemClient | undefined;
  let toBob: InboundMessage[] = [];
  let receipts: ReceiptEvent[] = [];
  const bobWarnings: string[] = [];
  const disconnects: string[] = [];
  let lost: SendResult | undefined;

  const s = () => stack!;
  const receiptsFor = (clientMessageId: string) =>
    receipts.filter((r) => r.clientMessageId === clientMessageId);
  const copiesToBob = (clientMessageId: string) => toBob.filter((m) => m.clientMessageId === clientMessageId);
  const ackRetryWarnings = () => bobWarnings.filter((w) => w.startsWith('ack failed; retrying'));

  beforeAll(async () => {
    ({ natsServer, proxy } = await startNatsWithProxy());
    stack = await startStack({
      natsUrl: natsServer.url, // gateway 0: NATS directly
      deliveryEnv: { COPY_TTL_MS: String(COPY_TTL_MS), SWEEP_INTERVAL_MS: '200' },
    });
    // gateway 1: NATS through the proxy
    await stack.startGateway({ natsUrl: proxy.url, env: { BUS_TIMEOUT_MS: String(BUS_TIMEOUT_MS) } });
    alice = await registerPhone(stack, 'alice');
    carol = await registerPhone(stack, 'carol');
    await carol.close(); // offline from now on: her copies are never fetched, they expire
    bob = await registerPhone(stack, 'bob', { url: stack.url(1) });
    toBob = collect<InboundMessage>((fn) => bob!.on('message', fn));
    receipts = collect<ReceiptEvent>((fn) => alice!.on('receipt', fn));
    bob.on('warning', (w) => void bobWarnings.push(w.message));
    for (const [name, c] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      c.on('disconnected', (e) => void disconnects.push(`${name} ${e.code} ${e.reason}`));
    }
  }, 30_000);

  // A test that failed half-way does not leave Bob's gateway off the bus for the next one.
  afterEach(() => void proxy?.restore());

  afterAll(async () => {
    await shutDown({ stack, clients: [alice, bob, carol], natsServer, proxy });
  }, 30_000);

  it("is sent again by the SDK until Bob's gateway is back on NATS: Alice gets a delivered receipt, not expired, and Bob's app gets the message once", async () => {
    // The healthy path first: Bob's gateway serves his acks, Alice gets the receipt.
    const warm = await alice!.send(bob!.accountId, { text: 'before the outage' });
    await waitUntil(() => receiptsFor(warm.clientMessageId).length === 1, 'the first receipt');

    const mark = s().logs.length;
    const gatewayLogged = (msg: string, extra: (l: { nats?: string }) => boolean = () => true) =>
      logLinesSince(s(), mark).some((l) => l.service === 'gateway' && l.msg === msg && extra(l));
    // Bob's app has the message; before the SDK acknowledges it (after this listener), Bob's
    // gateway loses NATS and cannot get back on it: the proxy refuses it until released.
    bob!.on('message', async (m) => {
      if (m.text !== CUT_TEXT) return;
      proxy!.hold();
      proxy!.cut();
      await waitUntil(
        () => gatewayLogged('nats status', (l) => l.nats === 'disconnect'),
        "Bob's gateway to notice it lost NATS",
      );
    });
    lost = await alice!.send(bob!.accountId, { text: CUT_TEXT });

    // The ack request times out at the gateway (TIMEOUT, retry after 1 s); the SDK keeps the ack
    // and tries again, and again, while the gateway is still away.
    await waitUntil(() => ackRetryWarnings().length >= 2, 'two failed attempts to acknowledge', 10_000);
    expect(copiesToBob(lost.clientMessageId)).toHaveLength(1);
    expect(receiptsFor(lost.clientMessageId)).toEqual([]); // not acknowledged yet: still queued

    // NATS comes back for Bob's gateway; Bob's socket stayed open the whole time.
    proxy!.release();
    await waitUntil(
      () => gatewayLogged('nats reconnected: cache cleared, queues drained again'),
      "Bob's gateway to get back on NATS",
    );
    await waitUntil(
      () => receiptsFor(lost!.clientMessageId).length > 0,
      'the receipt of the message whose first ack was lost',
      10_000,
    );
    expect(receiptsFor(lost.clientMessageId)).toEqual([
      expect.objectContaining({ kind: 'delivered', device: { accountId: bob!.accountId, deviceId: 1 } }),
    ]);
    // The gateway's re-drain after its reconnect did not push the copy again (it starts after the
    // highest seq forwarded on this socket): only the retried ack could have removed it.
    expect(copiesToBob(lost.clientMessageId)).toHaveLength(1);
    expect(toBob.map((m) => m.text)).toEqual(['before the outage', CUT_TEXT]);
    expect(ackRetryWarnings().length).toBeGreaterThanOrEqual(2);
    expect(bob!.connected).toBe(true);
    expect(disconnects).toEqual([]);
  }, 30_000);

  it(
    'the copy left the queue by that retried ack: once its TTL has passed, no expired receipt comes for it',
    async () => {
      expect(lost).toBeDefined(); // set by the previous test
      // A control copy to Carol, who is offline, accepted seconds after the lost-ack copy: when it has
      // expired (Alice is told), the lost-ack copy's TTL passed several sweeps earlier, and any
      // expired receipt for it would have been queued to Alice before the control's.
      const control = await alice!.send(carol!.accountId, { text: 'never fetched' });
      await waitUntil(
        () => receiptsFor(control.clientMessageId).length > 0,
        "the control copy's expired receipt",
        COPY_TTL_MS + 5_000,
      );
      expect(receiptsFor(control.clientMessageId)).toEqual([
        expect.objectContaining({ kind: 'expired', device: { accountId: carol!.accountId, deviceId: 1 } }),
      ]);
      expect(receiptsFor(lost!.clientMessageId)).toEqual([expect.objectContaining({ kind: 'delivered' })]);
      expect(receipts.filter((r) => r.kind === 'expired')).toHaveLength(1); // the control's only
      expect(copiesToBob(lost!.clientMessageId)).toHaveLength(1);
      expect(disconnects).toEqual([]);
    },
    COPY_TTL_MS + 10_000,
  );
});
