import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode, MAX_FRAME_BYTES } from '@tandem/proto';
import { createTestNats, type TestNats } from '@tandem/testkit';
import type { GatewayApp } from '../../src/app.js';
import { TestClient } from '../helpers/client.js';
import { startTestGateway } from '../helpers/gateway.js';

/**
 * Protection of one gateway against misbehaving sockets (no registry or delivery needed): auth
 * timeout, malformed / text / oversized frames, floods, heartbeats — each answered or closed
 * without hurting another client's round trip.
 */
describe('gateway protection', () => {
  let nats: TestNats;
  let app: GatewayApp;
  const clients: TestClient[] = [];
  const connect = async (opts?: Parameters<typeof TestClient.connect>[1]) => {
    const c = await TestClient.connect(app.url, opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    nats = await createTestNats();
    app = await startTestGateway(nats.url, nats.prefix, {
      AUTH_TIMEOUT_MS: '600',
      FRAME_RATE_PER_SEC: '50',
      FRAME_RATE_BURST: '50',
      RATE_VIOLATIONS_BEFORE_CLOSE: '20',
      BAD_FRAMES_BEFORE_CLOSE: '5',
      HEARTBEAT_INTERVAL_MS: '100',
      HEARTBEAT_TIMEOUT_MS: '400',
      CONNECT_RATE_BURST: '1000',
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await app.stop();
    await nats.close();
  });

  it('sends a fresh 32-byte challenge with the realm and server time on open', async () => {
    const a = await connect();
    const b = await connect();
    expect(a.challenge.nonce).toHaveLength(32);
    expect(Buffer.from(a.challenge.nonce).equals(Buffer.from(b.challenge.nonce))).toBe(false);
    expect(a.challenge.realm).toBe('gateway.test');
    expect(Math.abs(Number(a.challenge.serverTimeMs) - Date.now())).toBeLessThan(5000);
    expect(a.challenge.protocolVersion).toBe(1);
  });

  it('closes a socket that does not authenticate in time with 4008 after an AUTH_TIMEOUT error', async () => {
    const c = await connect();
    const t0 = Date.now();
    const closed = await c.closed;
    expect(closed.code).toBe(4008);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(
      c.pushes.some((f) => f.body.case === 'error' && f.body.value.code === ErrorCode.AUTH_TIMEOUT),
    ).toBe(true);
  });

  it('answers a frame that needs authentication with UNAUTHENTICATED and keeps the socket', async () => {
    const c = await connect();
    const r = await c.request({ case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } });
    expect(r.body.case === 'error' && r.body.value.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(await c.pingRtt()).toBeLessThan(1000);
  });

  it('answers malformed frames with BAD_FRAME and closes after repeated ones (4009), others unaffected', async () => {
    const bystander = await connect();
    const bad = await connect();
    bad.sendRaw(new Uint8Array([0xff, 0xff, 0xff]));
    const first = await bad.waitPush((f) => f.body.case === 'error');
    expect(first.body.case === 'error' && first.body.value.code).toBe(ErrorCode.BAD_FRAME);
    for (let i = 0; i < 10; i++) bad.sendRaw(new Uint8Array([0x0a, 0x80, i]));
    expect((await bad.closed).code).toBe(4009);
    expect(await bystander.pingRtt()).toBeLessThan(200);
  });

  it('closes a socket that sends a text frame with 4009', async () => {
    const c = await connect();
    c.sendRaw('{"event":"hello","data":1}');
    expect((await c.closed).code).toBe(4009);
  });

  it('refuses oversized frames: just over the limit with FRAME_TOO_LARGE + 4413, far over with 1009', async () => {
    const bystander = await connect();
    const a = await connect();
    a.sendRaw(new Uint8Array(MAX_FRAME_BYTES + 10));
    const ca = await a.closed;
    expect(ca.code).toBe(4413);
    expect(
      a.pushes.some((f) => f.body.case === 'error' && f.body.value.code === ErrorCode.FRAME_TOO_LARGE),
    ).toBe(true);
    const b = await connect();
    b.sendRaw(new Uint8Array(MAX_FRAME_BYTES * 2));
    expect((await b.closed).code).toBe(1009);
    expect(await bystander.pingRtt()).toBeLessThan(200);
  });

  it('rate-limits a flooding client with retry_after_ms, closes it with 4029, and others keep their latency', async () => {
    const bystander = await connect();
    const flooder = await connect();
    for (let i = 0; i < 500; i++)
      flooder.fire({ case: 'ping', value: { $typeName: 'tandem.v1.Ping', timestampMs: 0n } });
    const limited = await flooder.waitUntil(
      () => flooder.all.find((f) => f.body.case === 'error' && f.body.value.code === ErrorCode.RATE_LIMITED),
      3000,
      'RATE_LIMITED',
    );
    expect(limited.body.case === 'error' && limited.body.value.retryAfterMs).toBeGreaterThan(0);
    expect((await flooder.closed).code).toBe(4029);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await bystander.pingRtt());
    rtts.sort((a, b) => a - b);
    expect(rtts[2]!).toBeLessThan(100); // median
    expect(rtts[4]!).toBeLessThan(300);
  });

  it('closes a socket that stops answering pings with 4004', async () => {
    const c = await connect({ autoPong: false });
    const alive = await connect();
    const closed = await c.closed;
    // The heartbeat (400 ms) fires before the auth timer (600 ms) would.
    expect(closed.code).toBe(4004);
    expect(await alive.pingRtt()).toBeLessThan(200);
  });

  it('refuses a client that offers only unknown protocol versions with 4426', async () => {
    const c = await TestClient.connect(app.url, { protocols: ['tandem.v99'], waitChallenge: false });
    clients.push(c);
    expect((await c.closed).code).toBe(4426);
  });

  it('exposes connection, frame and error metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
    expect(text).toMatch(/gateway_connections\{service="gateway"\} \d+/);
    expect(text).toMatch(/gateway_frames_in_total\{type="ping",service="gateway"\} [1-9]/);
    expect(text).toMatch(/gateway_errors_total\{code="RATE_LIMITED",service="gateway"\} [1-9]/);
    expect(text).toMatch(/gateway_closes_total\{code="4029",service="gateway"\} [1-9]/);
  });
});
