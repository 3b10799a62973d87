import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type ClientFrame,
  ClientFrameSchema,
  CloseCode,
  create,
  EnvelopeType,
  encodeClientFrame,
  MAX_FRAME_BYTES,
  Platform,
} from '@tandem/proto';
import { TestClient } from '../helpers/client.js';
import { expectCase, rand, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/**
 * 100,000 random and mutated frames at a live gateway running in its own process (so its
 * process-level 'unhandledRejection' / 'uncaughtException' listeners see everything), spread
 * over unauthenticated and authenticated sockets, with the real registry and delivery behind it.
 * Afterwards: no crash, nothing unhandled, and a normal client still registers, authenticates,
 * sends and gets fast pongs.
 */
const TOTAL_FRAMES = 100_000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Report {
  type: 'report';
  unhandled: number;
  uncaught: number;
  samples: string[];
  rssBytes: number;
}

describe('fuzz', () => {
  let stack: Stack;
  let child: ChildProcess;
  let url: string;
  let opsPort: number;
  const request = <T>(msg: { type: string }, type: string) =>
    new Promise<T>((resolve) => {
      const on = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m as T);
      };
      child.on('message', on);
      child.send(msg);
    });

  beforeAll(async () => {
    stack = await startStack({ gateways: 0 });
    const here = dirname(fileURLToPath(import.meta.url));
    child = fork(join(here, '../fuzz/gateway-process.ts'), [], {
      execArgv: ['--import', 'tsx', '--conditions=@tandem/source'],
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        PORT: '0',
        OPS_PORT: '0',
        HOST: '127.0.0.1',
        OPS_HOST: '127.0.0.1',
        NATS_SUBJECT_PREFIX: stack.nats.prefix,
        GATEWAY_REALM: 'fuzz.test',
        // Let frames through to the decoder and handlers instead of only exercising the limiter.
        FRAME_RATE_PER_SEC: '1000000',
        FRAME_RATE_BURST: '1000000',
        SEND_RATE_PER_SEC: '1000000',
        SEND_RATE_BURST: '1000000',
        BAD_FRAMES_BEFORE_CLOSE: '1000000000',
        RATE_VIOLATIONS_BEFORE_CLOSE: '1000000',
        CONNECT_RATE_BURST: '100000',
        PREAUTH_RATE_PER_SEC: '200',
        PREAUTH_RATE_BURST: '200',
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const ready = await new Promise<{ url: string; opsPort: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { url: string; opsPort: number }));
      child.once('exit', (code) => reject(new Error(`gateway process exited with ${code}`)));
    });
    url = ready.url;
    opsPort = ready.opsPort;
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'stop' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await stack.close();
  });

  it(`survives ${TOTAL_FRAMES} random and mutated frames (seed ${SEED}) and still serves a normal client`, async () => {
    const random = prng(SEED);
    const int = (n: number) => Math.floor(random() * n);
    const alice = await TestDevice.registerPrimary(stack, url);
    const bob = await TestDevice.registerPrimary(stack, url);
    const bobDevice = { accountId: bob.accountId, deviceId: 1, registrationId: bob.registrationId };

    // Valid frames of every kind, the seeds of the mutations.
    const frame = (body: ClientFrame['body']) =>
      encodeClientFrame(create(ClientFrameSchema, { requestId: 1 + int(1000), body }));
    const seeds: Uint8Array[] = [
      frame({ case: 'ping', value: { $typeName: 'tandem.v1.Ping', timestampMs: 5n } }),
      frame(alice.sendBody(bob.accountId, [bobDevice], 100)),
      frame({
        case: 'ack',
        value: { $typeName: 'tandem.v1.Ack', serverIds: ['00000000-0000-4000-8000-000000000001'] },
      }),
      frame({ case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } }),
      frame({
        case: 'deviceListFetch',
        value: { $typeName: 'tandem.v1.DeviceListFetch', accountId: bob.accountId },
      }),
      frame({
        case: 'bundleFetch',
        value: { $typeName: 'tandem.v1.BundleFetch', accountId: bob.accountId, deviceIds: [1] },
      }),
      frame({ case: 'accountLookup', value: { $typeName: 'tandem.v1.AccountLookup', handle: 'someone' } }),
      frame({
        case: 'registerRequestCode',
        value: { $typeName: 'tandem.v1.RegisterRequestCode', handle: 'fuzzer' },
      }),
      frame({
        case: 'linkStart',
        value: {
          $typeName: 'tandem.v1.LinkStart',
          identityKey: rand(32),
          ephemeralKey: rand(32),
          registrationId: 9,
          name: 'fz',
          platform: Platform.WEB,
        },
      }),
      frame({
        case: 'linkCancel',
        value: { $typeName: 'tandem.v1.LinkCancel', linkId: '00000000-0000-4000-8000-000000000002' },
      }),
      frame({
        case: 'historyFetch',
        value: {
          $typeName: 'tandem.v1.HistoryFetch',
          blobId: '00000000-0000-4000-8000-000000000003',
          chunkIndex: 0,
        },
      }),
      frame({ case: 'unlink', value: { $typeName: 'tandem.v1.Unlink', deviceId: 9 } }),
      encodeClientFrame(
        create(ClientFrameSchema, {
          requestId: 3,
          body: {
            case: 'send',
            value: {
              $typeName: 'tandem.v1.Send',
              clientMessageId: 'x',
              recipientAccountId: bob.accountId,
              singleDevice: false,
              copies: [
                {
                  $typeName: 'tandem.v1.OutgoingCopy',
                  address: { $typeName: 'tandem.v1.DeviceAddress', ...bobDevice },
                  registrationId: 1,
                  type: EnvelopeType.PREKEY_MESSAGE,
                  ciphertext: rand(300),
                },
              ],
            },
          },
        }),
      ),
    ];
    const mutate = (): Uint8Array | string => {
      const roll = random();
      if (roll < 0.0005) return 'text frame';
      if (roll < 0.0006) return new Uint8Array(MAX_FRAME_BYTES + 1 + int(1000));
      if (roll < 0.2) return rand(int(300)); // pure noise, including empty frames
      const base = new Uint8Array(seeds[int(seeds.length)]!);
      if (roll < 0.3) return base; // valid as is
      let out = base;
      const ops = 1 + int(4);
      for (let i = 0; i < ops; i++) {
        const op = int(6);
        if (op === 0 && out.length) {
          const at = int(out.length);
          out[at] = out[at]! ^ (1 << int(8)); // bit flip
        } else if (op === 1 && out.length)
          out[int(out.length)] = int(256); // byte set
        else if (op === 2)
          out = out.slice(0, int(out.length + 1)); // truncate
        else if (op === 3) {
          const at = int(out.length + 1);
          out = new Uint8Array([...out.slice(0, at), ...rand(1 + int(16)), ...out.slice(at)]); // insert
        } else if (op === 4) {
          const other = seeds[int(seeds.length)]!;
          out = new Uint8Array([...out.slice(0, int(out.length + 1)), ...other.slice(int(other.length))]); // splice
        } else if (op === 5 && out.length > 2) {
          // a varint length pushed to an absurd value
          out[1 + int(out.length - 1)] = 0xff;
        }
      }
      return out;
    };

    type Slot = { client: TestClient; device?: TestDevice; sent: number };
    const open = async (device?: TestDevice): Promise<Slot> => {
      const client = device ? await device.connect(url) : await TestClient.connect(url);
      client.quiet = true;
      return { client, device, sent: 0 };
    };
    const slots: Slot[] = await Promise.all([open(), open(), open(), open(), open(alice), open(bob)]);
    const corpus = Array.from({ length: TOTAL_FRAMES }, mutate);
    // At most WINDOW frames unanswered per socket: the pace is the gateway's, not the kernel's.
    const WINDOW = 200;
    let sent = 0;
    let reconnects = 0;
    let answered = 0;
    let lost = 0;
    const closeCodes: Record<number, number> = {};
    const t0 = Date.now();
    while (sent < TOTAL_FRAMES) {
      let progressed = false;
      for (let i = 0; i < slots.length && sent < TOTAL_FRAMES; i++) {
        let slot = slots[i]!;
        if (slot.client.closeInfo || slot.client.ws.readyState !== 1) {
          reconnects++;
          await Promise.race([slot.client.closed, new Promise((r) => setTimeout(r, 3000))]);
          answered += slot.client.received;
          lost += Math.max(0, slot.sent - slot.client.received);
          const code = slot.client.closeInfo?.code ?? 0;
          closeCodes[code] = (closeCodes[code] ?? 0) + 1;
          slot = slots[i] = await open(slot.device);
        }
        const room = WINDOW - (slot.sent - slot.client.received);
        for (let k = 0; k < room && sent < TOTAL_FRAMES; k++, sent++, slot.sent++)
          slot.client.sendRaw(corpus[sent]!);
        if (room > 0) progressed = true;
      }
      await new Promise((r) => (progressed ? setImmediate(r) : setTimeout(r, 1)));
    }
    // Wait for the answers still in flight on the open sockets.
    const settleBy = Date.now() + 10_000;
    while (Date.now() < settleBy && slots.some((s) => !s.client.closeInfo && s.client.received < s.sent)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(60_000);
    answered += slots.reduce((n, s) => n + s.client.received, 0);
    // Every frame on a socket that stayed open got its answer (exactly one per frame; pushes may add).
    for (const s of slots) if (!s.client.closeInfo) expect(s.client.received).toBeGreaterThanOrEqual(s.sent);
    // Sockets were closed only on purpose, with documented codes (text frame 4009, oversized 4413,
    // a link session ended 1000, ...), never abnormally (1006) or for an internal error.
    const documented = new Set<number>(Object.values(CloseCode));
    for (const code of Object.keys(closeCodes).map(Number)) {
      expect(documented.has(code) && code !== CloseCode.INTERNAL).toBe(true);
    }
    expect(closeCodes[CloseCode.PROTOCOL_VIOLATION]).toBeGreaterThan(0); // the text frames

    // The gateway process is alive and nothing went unhandled.
    const report = await request<Report>({ type: 'report' }, 'report');
    expect(child.exitCode).toBeNull();
    expect(report.samples).toEqual([]);
    expect(report.unhandled).toBe(0);
    expect(report.uncaught).toBe(0);

    // A normal client is served normally.
    for (const s of slots) s.client.close();
    const carol = await TestDevice.registerPrimary(stack, url);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await carol.socket.pingRtt());
    expect(Math.min(...rtts)).toBeLessThan(100);
    const bobAgain = await bob.connect(url);
    const r = expectCase(await carol.sendTo(bob.accountId), 'sendResult');
    expect(r.result.case).toBe('accepted');
    await bobAgain.waitPush(
      (f) => f.body.case === 'deliver' && f.body.value.sender?.accountId === carol.accountId,
      10_000,
      'carol’s message',
    );
    const ready = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
    expect(ready.status).toBe(200);
    process.stderr.write(
      `fuzz: ${sent} frames in ${elapsed} ms (seed ${SEED}), ${answered} frames back, ${reconnects} reconnects ${JSON.stringify(closeCodes)} (${lost} frames unanswered on closed sockets), gateway rss ${Math.round(report.rssBytes / 1e6)} MB\n`,
    );
  }, 120_000);
});
