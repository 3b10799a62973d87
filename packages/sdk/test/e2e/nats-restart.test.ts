// NATS killed with SIGKILL under a running stack and started again on the same port. The test runs
// its own nats-server (other test files share the machine's NATS on 4222, which is never touched).
//
// Topology: Alice's phone on gateway 0, which connects to the private NATS directly; Bob's phone on
// gateway 1, which connects through a TCP proxy in this process. Killing NATS cuts both. The proxy
// can keep gateway 1 off the bus after NATS is back, so Alice's messages are accepted and queued
// while their live push to Bob is lost — what happens in any restart when the recipient's gateway
// reconnects after delivery has published — and the test then shows the gateway's re-drain after
// its reconnect hands them to Bob, whose socket stayed open the whole time.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type InboundMessage,
  MemoryStore,
  type ReceiptEvent,
  type SendResult,
  TandemClient,
  TandemError,
} from '../../src/index.js';
import {
  logLinesSince,
  type NatsServer,
  shutDown,
  startNatsWithProxy,
  type TcpProxy,
} from './nats-harness.js';
import { collect, options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** Gateway 0's timeout of one request to the registry or delivery (the default 3 s only makes this slower). */
const BUS_TIMEOUT_MS = 1_000;

describe('NATS killed (SIGKILL) and restarted on the same port under a running stack', () => {
  let natsServer: NatsServer | undefined;
  let proxy: TcpProxy | undefined;
  let stack: Stack | undefined;
  let alice: TandemClient | undefined;
  let bob: TandemClient | undefined;
  const bobStore = new MemoryStore();
  let toBob: InboundMessage[] = [];
  let receipts: ReceiptEvent[] = [];
  const disconnects: string[] = [];
  /** Every send that resolved (the server acknowledged it), in order. */
  const acknowledged: Array<{ text: string; result: SendResult }> = [];
  /**
   * Sends that rejected during the outage, with the clientMessageId their error named (the
   * application sends them again later with it).
   */
  const rejected: Array<{ text: string; clientMessageId: string }> = [];

  const s = () => stack!;
  const send = async (text: string, sendOptions: { clientMessageId?: string } = {}) => {
    const result = await alice!.send(bob!.accountId, { text }, sendOptions);
    acknowledged.push({ text, result });
    return result;
  };
  const linesSince = (mark: number) => logLinesSince(s(), mark);
  /** Services (one entry per connection) that logged this NATS status since `mark`. */
  const natsStatus = (mark: number, type: 'disconnect' | 'reconnect') =>
    linesSince(mark)
      .filter((l) => l.msg === 'nats status' && l.nats === type)
      .map((l) => l.service);
  const count = (list: string[], service: string) => list.filter((x) => x === service).length;
  const readyz = async (i: number) =>
    (await fetch(`http://127.0.0.1:${s().gateways[i]!.ops.port}/readyz`)).status;

  beforeAll(async () => {
    ({ natsServer, proxy } = await startNatsWithProxy());
    stack = await startStack({
      natsUrl: natsServer.url, // gateway 0: NATS directly
      gatewayEnv: { BUS_TIMEOUT_MS: String(BUS_TIMEOUT_MS) },
    });
    await stack.startGateway({ natsUrl: proxy.url }); // gateway 1: NATS through the proxy
    alice = await registerPhone(stack, 'alice');
    bob = await registerPhone(stack, 'bob', { url: stack.url(1), store: bobStore });
    toBob = collect<InboundMessage>((fn) => bob!.on('message', fn));
    receipts = collect<ReceiptEvent>((fn) => alice!.on('receipt', fn));
    alice.on('disconnected', (e) => void disconnects.push(`alice ${e.code} ${e.reason}`));
    bob.on('disconnected', (e) => void disconnects.push(`bob ${e.code} ${e.reason}`));
  }, 30_000);

  afterAll(async () => {
    await shutDown({ stack, clients: [alice, bob], natsServer, proxy });
  }, 30_000);

  it('delivers every message acknowledged before the kill to Bob exactly once, with a delivered receipt to Alice', async () => {
    for (const text of ['before 1', 'before 2', 'before 3']) await send(text);
    await waitUntil(() => toBob.length === 3 && receipts.length === 3, 'three messages and receipts');
    expect(toBob.map((m) => [m.clientMessageId, m.text])).toEqual(
      acknowledged.map((a) => [a.result.clientMessageId, a.text]),
    );
    expect(receipts.map((r) => r.clientMessageId).sort()).toEqual(
      acknowledged.map((a) => a.result.clientMessageId).sort(),
    );
  });

  it("while NATS is down, send() rejects with the gateway's retryable TIMEOUT after the SDK's three repeats (the gateway does not retry), naming its clientMessageId, and no device socket drops", async () => {
    const mark = s().logs.length;
    proxy!.hold(); // refuse new connections: once cut, Bob's gateway stays off the bus until released
    await natsServer!.kill();
    // Both gateways, the registry and delivery notice the broken connection (and keep retrying).
    await waitUntil(() => {
      const down = natsStatus(mark, 'disconnect');
      return (
        count(down, 'gateway') >= 2 && count(down, 'device-registry') >= 1 && count(down, 'delivery') >= 1
      );
    }, 'every service to log its NATS disconnect');
    expect(await readyz(0)).toBe(503);

    expect(s().gateway.core.config.BUS_TIMEOUT_MS).toBe(BUS_TIMEOUT_MS);
    // Two sends at once (each takes the SDK's whole repeat schedule).
    await Promise.all(
      ['outage 1', 'outage 2'].map(async (text) => {
        const started = Date.now();
        const error = await alice!.send(bob!.accountId, { text }).then(
          () => undefined,
          (e: unknown) => e,
        );
        const elapsed = Date.now() - started;
        // The gateway answered (not the SDK's own 15 s request timeout): delivery.accept timed out
        // (the gateway does not retry it), and the device is told to retry after a second; the
        // SDK sent the same request three more times, a second apart, with the same outcome.
        expect(error).toBeInstanceOf(TandemError);
        expect(error).toMatchObject({
          code: 'TIMEOUT',
          message: 'a service did not answer in time',
          extra: { retryAfterMs: 1000, clientMessageId: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
        });
        expect(elapsed).toBeGreaterThanOrEqual(4 * BUS_TIMEOUT_MS + 3 * 1000 - 100);
        rejected.push({ text, clientMessageId: (error as TandemError).extra.clientMessageId! });
      }),
    );
    // The sockets are untouched by the NATS outage.
    expect(alice!.connected && bob!.connected).toBe(true);
    expect(disconnects).toEqual([]);
    expect(toBob).toHaveLength(3);
    expect(
      linesSince(mark).filter(
        (l) => l.service === 'gateway' && l.msg === 'request failed' && l.frame === 'send',
      ),
    ).toHaveLength(2 * 4);
  }, 30_000);

  it('a send in flight when NATS comes back resolves (by an SDK repeat) once the services have reconnected', async () => {
    const aliceOnGateway = s().gateway.core.connections.getDevice(alice!.accountId, alice!.deviceId)!;
    const inFlight = send('in flight across the restart');
    inFlight.catch(() => undefined); // awaited below; no unhandled rejection if the test fails first
    await waitUntil(() => aliceOnGateway.inFlight > 0, 'the send to reach the gateway');

    const mark = s().logs.length;
    await natsServer!.start(); // same port
    // Gateway 0, the registry and delivery reconnect on their own (every 250 ms while away);
    // gateway 1 cannot: the proxy still refuses it.
    await waitUntil(
      () => {
        const up = natsStatus(mark, 'reconnect');
        return count(up, 'gateway') >= 1 && count(up, 'device-registry') >= 1 && count(up, 'delivery') >= 1;
      },
      'gateway 0, the registry and delivery to reconnect',
      5000,
    );
    expect(count(natsStatus(mark, 'reconnect'), 'gateway')).toBe(1);
    await waitUntil(() => aliceOnGateway.inFlight === 0, 'the in-flight send to finish', 10_000);
    const result = await inFlight;
    expect(result.copies).toEqual([
      expect.objectContaining({ accountId: bob!.accountId, deviceId: bob!.deviceId }),
    ]);
    expect(await readyz(0)).toBe(200);
    expect(await readyz(1)).toBe(503);
  }, 30_000);

  it("after the restart the application re-sends what was rejected with the clientMessageId its error named, and every send is acknowledged while Bob's gateway is still off the bus", async () => {
    rejected.sort((x, y) => x.text.localeCompare(y.text));
    for (const { text, clientMessageId } of rejected) {
      expect((await send(text, { clientMessageId })).clientMessageId).toBe(clientMessageId);
    }
    await send('after the restart');
    // Bob's gateway is still off the bus: the live pushes of these copies went nowhere.
    expect(toBob).toHaveLength(3);
    expect(alice!.connected && bob!.connected).toBe(true);
  }, 30_000);

  it('Bob, connected through the outage, gets the queued messages in order when his gateway reconnects and re-drains', async () => {
    const mark = s().logs.length;
    proxy!.release();
    await waitUntil(
      () =>
        linesSince(mark).some(
          (l) =>
            l.service === 'gateway' &&
            l.msg === 'nats reconnected: cache cleared, queues drained again' &&
            l.devices === 1,
        ),
      "Bob's gateway to reconnect and re-drain",
      5000,
    );
    await waitUntil(() => toBob.length === acknowledged.length, 'the queued messages to reach Bob');
    expect(toBob.slice(3).map((m) => m.text)).toEqual([
      'in flight across the restart',
      'outage 1',
      'outage 2',
      'after the restart',
    ]);
    expect(disconnects).toEqual([]);
  }, 30_000);

  it('after recovery messages flow live again; over the whole run Bob got each acknowledged message exactly once, Alice a receipt for each, and nothing is left queued', async () => {
    await send('live again');
    await waitUntil(
      () => toBob.length === acknowledged.length && receipts.length === acknowledged.length,
      'the live message and every receipt',
    );
    // Exactly the acknowledged messages, in order, each once: the rejected attempts left no copy.
    expect(toBob.map((m) => [m.clientMessageId, m.text])).toEqual(
      acknowledged.map((a) => [a.result.clientMessageId, a.text]),
    );
    expect(new Set(toBob.map((m) => m.serverId)).size).toBe(toBob.length);
    expect(toBob.every((m) => m.from.accountId === alice!.accountId)).toBe(true);
    // One delivered receipt per acknowledged message, naming Bob's phone.
    expect(receipts.map((r) => r.clientMessageId).sort()).toEqual(
      acknowledged.map((a) => a.result.clientMessageId).sort(),
    );
    expect(
      receipts.every(
        (r) => r.kind === 'delivered' && r.device.accountId === bob!.accountId && r.device.deviceId === 1,
      ),
    ).toBe(true);
    expect(disconnects).toEqual([]);

    // Bob reconnects: his queue is empty (every copy was acknowledged), nothing comes twice.
    await bob!.close();
    bob = await TandemClient.open(options(s(), { url: s().url(1), store: bobStore }));
    const replayed = collect<InboundMessage>((fn) => bob!.on('message', fn));
    const drained = bob.once('queue-empty');
    await bob.connect();
    await drained;
    expect(replayed).toEqual([]);
  }, 30_000);
});
