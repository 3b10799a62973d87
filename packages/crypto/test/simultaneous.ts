// A model of N devices that all start writing to each other at once, over a network that
// delivers in any order: each device keeps one SessionRecord per peer (as the SDK does), encrypts
// under the record's current session (or a fresh one from the peer's bundle) and decrypts with
// decryptWithRecord. Used by the unit and slow property tests.
import { expect } from '@jest/globals';
import fc from 'fast-check';
import { encryptForDevices } from '../src/fanout.js';
import {
  decryptWithRecord,
  EMPTY_SESSION_RECORD,
  promoteSession,
  type SessionRecord,
} from '../src/session-record.js';
import { bundleOf, makeDevice, recipient, storeOf, type TestDevice, text } from './helpers.js';

interface Wire {
  from: number;
  to: number;
  body: string;
  envelope: Uint8Array;
}

/** Random steps: send (from, to) or deliver the k-th message in flight. */
export const stepsArb = (devices: number, steps: number) =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('send' as const), from: fc.nat(devices - 1), to: fc.nat(devices - 1) }),
      fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }),
    ),
    { minLength: steps, maxLength: steps },
  );

const accountId = (a: number) => `0000000${a}-2222-4333-8444-555555555555`;

/**
 * Runs the model: every device first sends one message to every other device (in `firstOrder`,
 * all before anything is delivered: "at the same instant"), then `steps` random sends and
 * deliveries, then everything in flight is delivered in random order. Asserts every message was
 * decrypted exactly once by its recipient.
 */
export function runSimultaneous(
  accounts: number,
  devicesPerAccount: number,
  firstOrder: number[],
  steps: Array<{ kind: 'send'; from: number; to: number } | { kind: 'deliver'; pick: number }>,
  finalPicks: number[],
): { messages: number; decrypted: number } {
  const devices: TestDevice[] = [];
  for (let a = 0; a < accounts; a++)
    for (let d = 1; d <= devicesPerAccount; d++) devices.push(makeDevice(accountId(a), d, 64));
  const n = devices.length;
  const records = devices.map(() => devices.map(() => EMPTY_SESSION_RECORD as SessionRecord));
  const nextOneTime = devices.map(() => 100);
  const inFlight: Wire[] = [];
  const received = devices.map(() => new Map<string, number>());
  let sent = 0;

  const send = (from: number, to: number) => {
    if (from === to) return;
    const peer = devices[to]!;
    const record = records[from]![to]!;
    const current = record.current;
    const needsBundle = current === undefined || current.sendingChainKey === null;
    let bundle: ReturnType<typeof bundleOf> | undefined;
    if (needsBundle) {
      // The server hands each one-time prekey out once; when none is left, PQXDH runs without.
      bundle = bundleOf(peer, false);
      const otk = peer.oneTimePrekeys.get(nextOneTime[to]!);
      if (otk) {
        bundle = { ...bundle, oneTimePrekey: { id: otk.id, publicKey: otk.publicKey } };
        nextOneTime[to]! += 1;
      }
    }
    const body = `${from}->${to}#${sent++}`;
    const [e] = encryptForDevices(
      { identity: devices[from]!.identity, registrationId: devices[from]!.registrationId },
      text(body),
      [recipient(peer, { session: needsBundle ? undefined : current, bundle })],
    );
    records[from]![to] = promoteSession(record, e!.session);
    inFlight.push({ from, to, body, envelope: e!.envelope });
  };

  const deliver = (pick: number) => {
    if (inFlight.length === 0) return;
    const [w] = inFlight.splice(pick % inFlight.length, 1);
    const me = devices[w!.to]!;
    const out = decryptWithRecord(w!.envelope, {
      identity: me.identity,
      senderIdentityKey: devices[w!.from]!.identity.publicKey,
      record: records[w!.to]![w!.from]!,
      prekeys: storeOf(me),
    });
    // As the SDK does: the one-time prekey a new session used is deleted once it is persisted.
    if (out.usedPrekeys?.oneTimePrekeyId !== undefined)
      me.oneTimePrekeys.delete(out.usedPrekeys.oneTimePrekeyId);
    records[w!.to]![w!.from] = out.record;
    const body = new TextDecoder().decode(out.plaintext);
    expect(body).toBe(w!.body);
    const got = received[w!.to]!;
    got.set(body, (got.get(body) ?? 0) + 1);
  };

  for (const from of firstOrder) for (let to = 0; to < n; to++) send(from % n, to);
  for (const s of steps) {
    if (s.kind === 'send') send(s.from % n, s.to % n);
    else deliver(s.pick);
  }
  let i = 0;
  while (inFlight.length) deliver(finalPicks[i++ % Math.max(1, finalPicks.length)] ?? 0);

  let decrypted = 0;
  for (const got of received)
    for (const [body, count] of got) {
      expect([body, count]).toEqual([body, 1]);
      decrypted += count;
    }
  expect(decrypted).toBe(sent);
  return { messages: sent, decrypted };
}
