// Property tests: decoding arbitrary or mutated bytes yields a valid message or throws a
// ProtocolError, never anything else, and never takes long. 100,000 cases in total.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  decodeBus,
  decodeClientFrame,
  decodeReply,
  decodeServerFrame,
  ErrorCode,
  encodeBus,
  encodeClientFrame,
  encodeReply,
  encodeServerFrame,
  eventSubjects,
  type Message,
  ProtocolError,
  type PublishSubject,
  encodeClientFrame as reencodeClient,
  replyError,
  replyOk,
  requestSubjects,
  subjects,
} from '../../src/index.js';
import {
  ACCOUNT,
  BUS_EVENTS,
  BUS_OKS,
  BUS_REQUESTS,
  CLIENT_FRAMES,
  INBOX_MESSAGES,
  SERVER_FRAMES,
} from '../unit/samples.js';

const catalog = subjects('fuzz');
/** Wall-clock budget for the whole file; the suite fails (not hangs) past it. */
const BUDGET_MS = 40_000;
const started = Date.now();
let slowest = 0;

/** Runs one decode: returns normally or throws ProtocolError; anything else fails the property. */
function decodes(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): boolean {
  const t0 = performance.now();
  try {
    decode(bytes);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    if (!Number.isInteger(error.code) || error.code === ErrorCode.UNSPECIFIED) return false;
  } finally {
    slowest = Math.max(slowest, performance.now() - t0);
  }
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A mutation of a valid encoding: bit flips, truncation, insertion, byte overwrite, splice. */
function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  const flip = fc
    .tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }))
    .map(([s, flips]) => {
      const out = s.slice();
      for (const [pos, bit] of flips) if (out.length > 0) out[pos % out.length]! ^= 1 << bit;
      return out;
    });
  const truncate = fc.tuple(seed, fc.nat()).map(([s, n]) => s.slice(0, s.length === 0 ? 0 : n % s.length));
  const insert = fc
    .tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }))
    .map(([s, pos, ins]) => {
      const at = s.length === 0 ? 0 : pos % s.length;
      return concat(s.subarray(0, at), ins, s.subarray(at));
    });
  const overwrite = fc.tuple(seed, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, pos, v]) => {
    const out = s.slice();
    if (out.length > 0) out[pos % out.length] = v;
    return out;
  });
  const splice = fc.tuple(seed, seed, fc.nat(), fc.nat()).map(([a, b, i, j]) => {
    const cutA = a.length === 0 ? 0 : i % a.length;
    const cutB = b.length === 0 ? 0 : j % b.length;
    return concat(a.subarray(0, cutA), b.subarray(cutB));
  });
  return fc.oneof(flip, truncate, insert, overwrite, splice);
}

// Seeds over 16 KiB (the 256 KiB history chunk) would only make the run slower, not better.
const small = (b: Uint8Array) => b.length <= 16 * 1024;
const clientSeeds = CLIENT_FRAMES.map((f) => encodeClientFrame(f)).filter(small);
const serverSeeds = SERVER_FRAMES.map((f) => encodeServerFrame(f)).filter(small);

function assertRuns(property: fc.IProperty<[Uint8Array]>, numRuns: number): void {
  fc.assert(property, { numRuns, seed: 0x7a4d3e, endOnFailure: true });
  expect(Date.now() - started).toBeLessThan(BUDGET_MS);
}

describe('fuzzing decoders (100,000 cases)', () => {
  it('arbitrary bytes as ClientFrame (15,000)', () => {
    assertRuns(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => decodes(decodeClientFrame, b)),
      15_000,
    );
  });

  it('arbitrary bytes as ServerFrame (15,000)', () => {
    assertRuns(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => decodes(decodeServerFrame, b)),
      15_000,
    );
  });

  it('mutated valid ClientFrames (25,000)', () => {
    assertRuns(
      fc.property(mutated(clientSeeds), (b) => decodes(decodeClientFrame, b)),
      25_000,
    );
  });

  it('mutated valid ServerFrames (25,000)', () => {
    assertRuns(
      fc.property(mutated(serverSeeds), (b) => decodes(decodeServerFrame, b)),
      25_000,
    );
  });

  it('mutated valid bus messages on their subjects (20,000)', () => {
    const targets: { seed: Uint8Array; decode: (b: Uint8Array) => unknown }[] = [];
    for (const s of requestSubjects(catalog)) {
      targets.push({ seed: encodeBus(s, BUS_REQUESTS[s.key]!), decode: (b) => decodeBus(s, b) });
      targets.push({ seed: encodeReply(s, replyOk(s, BUS_OKS[s.key]!)), decode: (b) => decodeReply(s, b) });
      targets.push({
        seed: encodeReply(s, replyError(s, ErrorCode.INTERNAL, 'x')),
        decode: (b) => decodeReply(s, b),
      });
    }
    for (const s of eventSubjects(catalog)) {
      const sub = s as PublishSubject<Message>;
      targets.push({ seed: encodeBus(sub, BUS_EVENTS[s.key]!), decode: (b) => decodeBus(sub, b) });
    }
    const inbox = catalog.inbox(ACCOUNT, 1);
    for (const m of INBOX_MESSAGES)
      targets.push({ seed: encodeBus(inbox, m), decode: (b) => decodeBus(inbox, b) });
    const seeds = targets.filter((t) => small(t.seed));
    const arb = fc
      .integer({ min: 0, max: seeds.length - 1 })
      .chain((i) => mutated([seeds[i]!.seed]).map((bytes) => ({ i, bytes })));
    fc.assert(
      fc.property(arb, ({ i, bytes }) => decodes(seeds[i]!.decode, bytes)),
      { numRuns: 20_000, seed: 0x7a4d3f, endOnFailure: true },
    );
    expect(Date.now() - started).toBeLessThan(BUDGET_MS);
  });

  it('a decoded message always re-encodes (decode yields only valid messages)', () => {
    fc.assert(
      fc.property(mutated(clientSeeds), (b) => {
        let frame: ReturnType<typeof decodeClientFrame>;
        try {
          frame = decodeClientFrame(b);
        } catch {
          return true;
        }
        reencodeClient(frame);
        return true;
      }),
      { numRuns: 1_000, seed: 1 },
    );
  });

  it('no single decode was slow', () => {
    expect(slowest).toBeLessThan(250);
  });
});
