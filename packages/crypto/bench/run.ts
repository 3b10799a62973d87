// Benchmark: npm run bench -w packages/crypto. One core, pure JS (@noble), except the "node" row.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { randomBytes } from '@noble/hashes/utils.js';
import { decryptEnvelope, encryptForDevices, type RecipientDevice } from '../src/fanout.js';
import { generateIdentity, signAuthChallenge, verifyAuthChallenge } from '../src/identity.js';
import {
  activeRatchetPrimitives,
  useNobleRatchetPrimitives,
  useNodeRatchetPrimitives,
  verifyAuthChallengeFast,
} from '../src/node.js';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generateSignedPrekey,
  type PrekeyBundle,
} from '../src/prekeys.js';
import type { SessionState } from '../src/ratchet.js';

const SENDER_ACCOUNT = '11111111-2222-4333-8444-555555555555';
const RECIPIENT_ACCOUNT = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

function rate(fn: () => void, seconds: number): number {
  let iterations = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    fn();
    iterations++;
  }
  return iterations / ((performance.now() - start) / 1000);
}

interface Row {
  name: string;
  primitives: string;
  /** Best of the rounds: the run least disturbed by other processes on the machine. */
  perSecond: number;
  /** Median of the rounds. */
  medianPerSecond: number;
  usPerOp: number;
}

const ROUNDS = 5;

/** `ROUNDS` timed runs of one second each after a warm-up; reports the best and the median. */
function measure(name: string, opsPerIteration: number, fn: () => void, seconds = 1): Row {
  for (let i = 0; i < 200; i++) fn(); // warm-up (JIT)
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rates.push(rate(fn, seconds));
  rates.sort((a, b) => a - b);
  const best = rates[rates.length - 1]!;
  return {
    name,
    primitives: activeRatchetPrimitives(),
    perSecond: Math.round(best),
    medianPerSecond: Math.round(rates[Math.floor(rates.length / 2)]!),
    usPerOp: Math.round((1e6 / best / opsPerIteration) * 10) / 10,
  };
}

function makeRecipient(deviceId: number) {
  const identity = generateIdentity();
  const spk = generateSignedPrekey(identity.secretKey, 1);
  const otk = generateOneTimePrekeys(1, 1)[0]!;
  const pq = generateLastResortPqPrekey(identity.secretKey, 1);
  const bundle: PrekeyBundle = {
    identityKey: identity.publicKey,
    registrationId: deviceId,
    deviceId,
    signedPrekey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    oneTimePrekey: { id: otk.id, publicKey: otk.publicKey },
    pqPrekey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature, lastResort: true },
  };
  const store = { signedPrekey: () => spk, oneTimePrekey: () => otk, pqPrekey: () => pq };
  return { deviceId, identity, bundle, store };
}

const sender = { identity: generateIdentity(), registrationId: 1 };
const recipients = [1, 2, 3, 4, 5].map(makeRecipient);
const message = randomBytes(200);

// Establishes fresh sessions both ways (each recipient replies once, so the sender's envelopes are
// normal messages).
const senderSessions = new Map<number, SessionState>();
const recipientSessions = new Map<number, SessionState>();
function establishSessions(): void {
  for (const r of recipients) {
    const dev: RecipientDevice = {
      accountId: RECIPIENT_ACCOUNT,
      deviceId: r.deviceId,
      identityKey: r.identity.publicKey,
      bundle: r.bundle,
    };
    const first = encryptForDevices(sender, message, [dev])[0]!;
    const got = decryptEnvelope(first.envelope, {
      identity: r.identity,
      senderIdentityKey: sender.identity.publicKey,
      prekeys: r.store,
    });
    const reply = encryptForDevices({ identity: r.identity, registrationId: r.deviceId }, message, [
      {
        accountId: SENDER_ACCOUNT,
        deviceId: 1,
        identityKey: sender.identity.publicKey,
        session: got.session,
      },
    ])[0]!;
    recipientSessions.set(r.deviceId, reply.session);
    senderSessions.set(
      r.deviceId,
      decryptEnvelope(reply.envelope, {
        identity: sender.identity,
        senderIdentityKey: r.identity.publicKey,
        session: first.session,
      }).session,
    );
  }
}

const results: Row[] = [];

results.push(
  measure('session setup, initiator (verify bundle + PQXDH + first message)', 1, () => {
    const r = recipients[0]!;
    encryptForDevices(sender, message, [
      {
        accountId: RECIPIENT_ACCOUNT,
        deviceId: r.deviceId,
        identityKey: r.identity.publicKey,
        bundle: r.bundle,
      },
    ]);
  }),
);

{
  const r = recipients[0]!;
  const env = encryptForDevices(sender, message, [
    {
      accountId: RECIPIENT_ACCOUNT,
      deviceId: r.deviceId,
      identityKey: r.identity.publicKey,
      bundle: r.bundle,
    },
  ])[0]!.envelope;
  results.push(
    measure('session setup, responder (PQXDH + first decrypt)', 1, () => {
      decryptEnvelope(env, {
        identity: r.identity,
        senderIdentityKey: sender.identity.publicKey,
        prekeys: r.store,
      });
    }),
  );
}

/** The per-message rows, run once per ratchet-primitives backend. */
function messageRows(): void {
  establishSessions();
  // Decrypts on one device: a batch of 1000 envelopes on the same chain, decrypted in order.
  const r = recipients[0]!;
  let s = senderSessions.get(r.deviceId)!;
  const envelopes: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const e = encryptForDevices(sender, message, [
      { accountId: RECIPIENT_ACCOUNT, deviceId: r.deviceId, identityKey: r.identity.publicKey, session: s },
    ])[0]!;
    s = e.session;
    envelopes.push(e.envelope);
  }
  senderSessions.set(r.deviceId, s);
  const start = recipientSessions.get(r.deviceId)!;
  let i = 0;
  let session = start;
  results.push(
    measure('decrypt, 200 B (same chain, in order)', 1, () => {
      if (i === envelopes.length) {
        i = 0;
        session = start;
      }
      session = decryptEnvelope(envelopes[i++]!, {
        identity: r.identity,
        senderIdentityKey: sender.identity.publicKey,
        session,
      }).session;
    }),
  );

  // Fan-out to 5 devices over existing sessions: symmetric ratchet steps only (the common case).
  results.push(
    measure('fan-out send, 200 B to 5 devices (existing sessions)', 5, () => {
      const out = encryptForDevices(
        sender,
        message,
        recipients.map((r) => ({
          accountId: RECIPIENT_ACCOUNT,
          deviceId: r.deviceId,
          identityKey: r.identity.publicKey,
          session: senderSessions.get(r.deviceId),
        })),
      );
      for (const e of out) senderSessions.set(e.deviceId, e.session);
    }),
  );
}

useNobleRatchetPrimitives();
messageRows(); // pure JS: what a browser runs
useNodeRatchetPrimitives();
messageRows(); // OpenSSL through node:crypto: what the tandem CLI and Node clients run
useNobleRatchetPrimitives();

{
  const id = generateIdentity();
  const fields = {
    realm: 'bench.example',
    nonce: randomBytes(32),
    timestampMs: Date.now(),
    accountId: SENDER_ACCOUNT,
    deviceId: 1,
  };
  const sig = signAuthChallenge(id.secretKey, fields);
  results.push(
    measure('auth challenge verify', 1, () => void verifyAuthChallenge(id.publicKey, fields, sig)),
  );
  const fast = measure(
    'auth challenge verify',
    1,
    () => void verifyAuthChallengeFast(id.publicKey, fields, sig),
  );
  results.push({ ...fast, primitives: 'node:crypto' });
}

const TARGET = 5000;
const table = results.map((r) => ({
  operation: r.name,
  primitives: r.primitives,
  'best /s': r.perSecond,
  'median /s': r.medianPerSecond,
  'µs per device-op (best)': r.usPerOp,
}));
console.log(
  `@tandem/crypto bench — node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}, one core, ${ROUNDS} rounds × 1 s`,
);
console.table(table);
console.log(`load average ${loadavg()[0]?.toFixed(2)} (2 cores; other processes slow every row)`);
for (const row of results.filter((r) => r.name.startsWith('fan-out'))) {
  console.log(
    `target >= ${TARGET} fan-out sends to 5 devices per second, ${row.primitives}: best ${row.perSecond}/s, median ${row.medianPerSecond}/s (${row.medianPerSecond >= TARGET ? 'MET' : 'MISSED'} by the median)`,
  );
}
writeFileSync(
  new URL('./results.json', import.meta.url),
  `${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, date: new Date().toISOString(), loadAverage: loadavg()[0], targetFanoutsPerSecond: TARGET, results }, null, 2)}\n`,
);
