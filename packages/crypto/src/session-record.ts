/**
 * Every session a device holds with one remote device: the current one (used to send) and a
 * bounded list of previous ones (still tried on receive), as in Signal's SessionRecord.
 *
 * Why: two devices that first write to each other at the same moment each start a session
 * (PQXDH as initiator) and each then receives the other's prekey message. Keeping one session
 * per remote device would let each side overwrite the session the other is still sending under,
 * and every message under the overwritten session would fail. With a record nothing is
 * overwritten: a new session is added, the old one is kept, and a message decrypts under
 * whichever session it was sent in.
 *
 * Convergence (both sides must end up sending under one session):
 *  - A normal message that decrypts under a previous session makes that session current (the
 *    peer is using it; Signal's promote-on-receive).
 *  - When a prekey message starts a new session while the current one is a session this device
 *    started and the peer has never answered (both initiated at once), the session with the
 *    lexicographically smaller base key wins on both sides — each side holds the same two
 *    sessions, so both choose the same one without a message.
 *  - A prekey message that repeats the header of a session already held does not move it.
 *
 * Records are immutable values, like sessions: every call returns a new record to persist.
 */
import { CryptoError } from './errors.js';
import {
  type DecryptContext,
  type DecryptedEnvelope,
  decryptEnvelope,
  ENVELOPE_TYPE_PREKEY,
  readEnvelope,
} from './fanout.js';
import {
  assertSession,
  deserializeSession,
  SESSION_FORMAT_VERSION,
  type SessionState,
  serializeSession,
} from './ratchet.js';
import { assertBytes, assertObject, ByteReader, concatBytes, equalBytes, u8, u32be } from './utils.js';

/** Previous sessions kept per remote device (Signal keeps 40; sessions here are rarely replaced). */
export const MAX_PREVIOUS_SESSIONS = 10;
/** First byte of `serializeSessionRecord` output (a lone v1 session starts with 1). */
export const SESSION_RECORD_FORMAT_VERSION = 2;

export interface SessionRecord {
  /** The session messages are sent under; undefined when the record is empty. */
  readonly current: SessionState | undefined;
  /** Older sessions, newest first, at most MAX_PREVIOUS_SESSIONS; tried when `current` fails. */
  readonly previous: readonly SessionState[];
}

export const EMPTY_SESSION_RECORD: SessionRecord = Object.freeze({ current: undefined, previous: [] });

function assertRecord(record: SessionRecord, name = 'record'): void {
  assertObject(name, record);
  if (record.current !== undefined) assertSession(record.current, `${name}.current`);
  if (!Array.isArray(record.previous)) {
    throw new CryptoError('INVALID_ARGUMENT', `${name}.previous must be an array`, {
      parameter: `${name}.previous`,
    });
  }
  for (const [i, s] of record.previous.entries()) assertSession(s, `${name}.previous[${i}]`);
}

const sameRun = (a: SessionState, b: SessionState) =>
  a.initiator === b.initiator && equalBytes(a.baseKey, b.baseKey);

/**
 * Makes `session` current. The session it replaces (and any older state of the same PQXDH run)
 * moves to `previous`, which keeps its newest MAX_PREVIOUS_SESSIONS entries.
 */
export function promoteSession(record: SessionRecord, session: SessionState): SessionRecord {
  assertRecord(record);
  assertSession(session, 'session');
  const rest = [record.current, ...record.previous].filter(
    (s): s is SessionState => s !== undefined && !sameRun(s, session),
  );
  return Object.freeze({ current: session, previous: Object.freeze(rest.slice(0, MAX_PREVIOUS_SESSIONS)) });
}

/** Replaces a session of the record in place (same PQXDH run), without changing which is current. */
function replaceSession(record: SessionRecord, session: SessionState): SessionRecord {
  if (record.current && sameRun(record.current, session))
    return Object.freeze({ ...record, current: session });
  return Object.freeze({
    current: record.current,
    previous: Object.freeze(record.previous.map((s) => (sameRun(s, session) ? session : s))),
  });
}

/** Drops every session with another remote identity key (the device was re-registered). */
export function sessionsFor(record: SessionRecord, remoteIdentityKey: Uint8Array): SessionRecord {
  assertRecord(record);
  assertBytes('remoteIdentityKey', remoteIdentityKey);
  const keep = (s: SessionState) => equalBytes(s.remoteIdentityKey, remoteIdentityKey);
  const all = [record.current, ...record.previous].filter(
    (s): s is SessionState => s !== undefined && keep(s),
  );
  if (record.current !== undefined && keep(record.current))
    return Object.freeze({ current: record.current, previous: Object.freeze(all.slice(1)) });
  return Object.freeze({ current: all[0], previous: Object.freeze(all.slice(1)) });
}

export interface RecordDecryptContext extends Omit<DecryptContext, 'session'> {
  /** Every session held with the sending device (EMPTY_SESSION_RECORD when none). */
  record: SessionRecord;
}

export interface RecordDecrypted extends DecryptedEnvelope {
  /** The record after this message: persist it (it replaces the previous record). */
  record: SessionRecord;
}

/** Lower on failure of a candidate session means "more telling" when every session fails. */
const FAILURE_RANK: Partial<Record<string, number>> = { DUPLICATE_MESSAGE: 0, DECRYPT_FAILED: 1 };

/**
 * Decrypts an envelope from one device with any session of `record` (current first), or starts
 * a new session from a prekey message, and returns the new record. Errors are those of
 * `decryptEnvelope`; when every session fails, DUPLICATE_MESSAGE if one of them had already
 * received the message, else the error of the current session. Nothing changes on failure.
 */
export function decryptWithRecord(envelope: Uint8Array, context: RecordDecryptContext): RecordDecrypted {
  assertBytes('envelope', envelope);
  assertObject('context', context);
  assertBytes('context.senderIdentityKey', context.senderIdentityKey);
  assertRecord(context.record, 'context.record');
  const record = sessionsFor(context.record, context.senderIdentityKey);
  const candidates = [record.current, ...record.previous].filter((s): s is SessionState => s !== undefined);
  const info = readEnvelope(envelope);
  const base = {
    identity: context.identity,
    senderIdentityKey: context.senderIdentityKey,
    prekeys: context.prekeys,
  };

  if (info.type === ENVELOPE_TYPE_PREKEY) {
    const header = info.prekeyHeader!;
    const held = candidates.find((s) => s.initiator === false && equalBytes(s.baseKey, header.ephemeralKey));
    if (held !== undefined) {
      // The initiator repeats its header until it hears back: same run, same session.
      const out = decryptEnvelope(envelope, { ...base, session: held });
      return { ...out, record: replaceSession(record, out.session) };
    }
    const out = decryptEnvelope(envelope, { ...base, session: undefined });
    const current = record.current;
    if (
      current?.initiator &&
      current.pendingPrekey !== null &&
      compareBytes(current.baseKey, out.session.baseKey) < 0
    ) {
      // Both sides started a session at once and ours has the smaller base key: the peer keeps
      // it too (it sees the same two keys), so it stays current and the new one is kept as previous.
      const previous = [out.session, ...record.previous].slice(0, MAX_PREVIOUS_SESSIONS);
      return { ...out, record: Object.freeze({ current, previous: Object.freeze(previous) }) };
    }
    return { ...out, record: promoteSession(record, out.session) };
  }

  if (candidates.length === 0) throw new CryptoError('NO_SESSION', 'normal message without a session');
  let failure: CryptoError | undefined;
  for (const [i, session] of candidates.entries()) {
    try {
      const out = decryptEnvelope(envelope, { ...base, session });
      // A reply under a previous session: the peer sends under it, so send under it too.
      const next = i === 0 ? replaceSession(record, out.session) : promoteSession(record, out.session);
      return { ...out, record: next };
    } catch (error) {
      if (!(error instanceof CryptoError)) throw error;
      if (failure === undefined || (FAILURE_RANK[error.code] ?? 2) < (FAILURE_RANK[failure.code] ?? 2)) {
        failure = error;
      }
    }
  }
  throw failure!;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// Serialization, version 2:
//   u8 2 || u8 flags (1: has current) || u8 #previous
//   || [u32 length || current session] || (u32 length || previous session)*
// A lone session (`serializeSession`, first byte 1) is read as a record with just that session.

/** Serializes a record (it holds secrets: store it as such). */
export function serializeSessionRecord(record: SessionRecord): Uint8Array {
  assertRecord(record);
  const sessions = [record.current, ...record.previous].filter((s): s is SessionState => s !== undefined);
  const parts: Uint8Array[] = [
    u8(SESSION_RECORD_FORMAT_VERSION),
    u8(record.current === undefined ? 0 : 1),
    u8(record.previous.length),
  ];
  for (const s of sessions) {
    const bytes = serializeSession(s);
    parts.push(u32be(bytes.length), bytes);
  }
  return concatBytes(...parts);
}

/** Parses `serializeSessionRecord` output, or a lone `serializeSession` output. */
export function deserializeSessionRecord(bytes: Uint8Array): SessionRecord {
  assertBytes('bytes', bytes);
  if (bytes[0] === SESSION_FORMAT_VERSION) {
    return Object.freeze({ current: deserializeSession(bytes), previous: Object.freeze([]) });
  }
  const r = new ByteReader(bytes, 'session record');
  const version = r.u8();
  if (version !== SESSION_RECORD_FORMAT_VERSION) {
    throw new CryptoError('UNSUPPORTED_VERSION', `session record format version ${version} is not supported`);
  }
  const flags = r.u8();
  if (flags & ~1) throw new CryptoError('BAD_FORMAT', 'session record: unknown flags');
  const count = r.u8();
  if (count > MAX_PREVIOUS_SESSIONS) throw new CryptoError('BAD_FORMAT', 'session record: too many sessions');
  const read = () => deserializeSession(r.bytesN(r.u32()));
  const current = flags & 1 ? read() : undefined;
  const previous: SessionState[] = [];
  for (let i = 0; i < count; i++) previous.push(read());
  r.end();
  return Object.freeze({ current, previous: Object.freeze(previous) });
}
