/**
 * The Double Ratchet (Signal, "The Double Ratchet Algorithm", rev. 4), section 3 with the
 * recommended cryptographic functions of section 5.2:
 * - KDF_RK: HKDF-SHA256 with the root key as salt and the DH output as input key material;
 * - KDF_CK: HMAC-SHA256 with the chain key as key, constant 0x01 for the message key, 0x02 for the
 *   next chain key;
 * - ENCRYPT: ChaCha20-Poly1305 (RFC 8439) keyed directly with the (single-use) message key and a
 *   random 12-byte nonce carried with the message; AD = session AD || caller AD || header (§3.1
 *   CONCAT).
 *
 * Why ChaCha20-Poly1305 and not AES-256-GCM: @noble's AES uses lookup tables (cache-timing
 * leaks; see its README), ChaCha20 is add-rotate-xor and runs in constant time in JS; it is also
 * ~2x faster here. Each message key encrypts one message, so a nonce is not needed for uniqueness;
 * it is random anyway so that an accidental reuse of a message key (a device restored from an old
 * backup of its session state) leaks nothing beyond the reuse itself: two random 96-bit nonces
 * under one key collide with probability 2^-96. (XChaCha20's 24-byte nonce would buy nothing more
 * here and costs an HChaCha20 per message; ADR 0009.)
 *
 * KDF_CK and the AEAD come from `ratchetPrimitives()` (primitives.ts): @noble by default, OpenSSL
 * when `@tandem/crypto/node` installed it; the bytes are the same either way.
 *
 * States are immutable: every operation returns a new state and leaves its input untouched, so a
 * failed decryption changes nothing (§3.5 "if an exception is raised ... the message is discarded
 * and changes to the state object are discarded").
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { dh, generateX25519KeyPair } from './dh.js';
import { CryptoError } from './errors.js';
import { PUBLIC_KEY_LENGTH } from './identity.js';
import { RATCHET_ROOT_INFO } from './prefixes.js';
import { ratchetPrimitives } from './primitives.js';
import { randomNonceInto } from './random.js';
import {
  assertPrekeyHeader,
  encodePrekeyHeader,
  type InitiatedSession,
  type PrekeyHeader,
  type RespondedSession,
  readPrekeyHeader,
} from './session.js';
import {
  assertBytes,
  assertObject,
  ByteReader,
  bytesToHex,
  concatBytes,
  equalBytes,
  u8,
  u16be,
  u32be,
  wipe,
} from './utils.js';

/** Most message keys skipped in one chain by one message (spec §3.2 MAX_SKIP). */
export const MAX_SKIP = 1000;
/** Most skipped message keys kept in total; the oldest are discarded beyond it (spec §6.5). */
export const MAX_SKIPPED_KEYS = 2000;
/** Receiving chains remembered after they end, to tell replays of their messages apart. */
export const MAX_PREVIOUS_CHAINS = 64;
/** First byte of `serializeSession` output. */
export const SESSION_FORMAT_VERSION = 1;

const HEADER_LENGTH = 40; // ratchet public key (32) || u32be PN || u32be N
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

interface SkippedKey {
  readonly ratchetKey: Uint8Array;
  readonly n: number;
  readonly messageKey: Uint8Array;
}

interface PreviousChain {
  readonly ratchetKey: Uint8Array;
  readonly length: number;
}

/**
 * One Double Ratchet session with one remote device. Immutable; only this module makes them.
 * Persist it with `serializeSession` after every encrypt/decrypt.
 */
export interface SessionState {
  /** True on the side that ran PQXDH as Alice. */
  readonly initiator: boolean;
  readonly localIdentityKey: Uint8Array;
  readonly remoteIdentityKey: Uint8Array;
  /** Alice's PQXDH ephemeral key; names the PQXDH run this session came from. */
  readonly baseKey: Uint8Array;
  /** AD from PQXDH: IK_A || IK_B. */
  readonly associatedData: Uint8Array;
  readonly rootKey: Uint8Array;
  readonly sendingRatchetPublic: Uint8Array;
  readonly sendingRatchetSecret: Uint8Array;
  readonly remoteRatchetKey: Uint8Array | null;
  readonly sendingChainKey: Uint8Array | null;
  readonly receivingChainKey: Uint8Array | null;
  readonly sendCount: number;
  readonly receiveCount: number;
  readonly previousSendCount: number;
  readonly previousChains: readonly PreviousChain[];
  readonly skippedKeys: ReadonlyMap<string, SkippedKey>;
  /** Alice repeats the PQXDH header in every message until Bob's first reply arrives. */
  readonly pendingPrekey: PrekeyHeader | null;
}

const genuine = new WeakSet<object>();

function seal(state: SessionState): SessionState {
  Object.freeze(state);
  genuine.add(state);
  return state;
}

/** Asserts `state` is a SessionState made by this module (not a hand-built look-alike). */
export function assertSession(state: unknown, parameter = 'state'): asserts state is SessionState {
  if (typeof state !== 'object' || state === null || !genuine.has(state)) {
    throw new CryptoError(
      'INVALID_ARGUMENT',
      `${parameter} must be a SessionState created by @tandem/crypto`,
      {
        parameter,
      },
    );
  }
}

/** KDF_RK(rk, dh_out) = HKDF-SHA256(salt = rk, ikm = dh_out, info) -> (rk', ck) (spec §5.2). */
function kdfRk(rootKey: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdf(sha256, dhOut, rootKey, RATCHET_ROOT_INFO, 64);
  const result: [Uint8Array, Uint8Array] = [out.slice(0, 32), out.slice(32, 64)];
  wipe(out, dhOut);
  return result;
}

/** KDF_CK(ck) = (HMAC(ck, 0x02), HMAC(ck, 0x01)) -> (next chain key, message key) (spec §5.2). */
function kdfCk(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
  return ratchetPrimitives().kdfCk(chainKey);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Working = Mutable<SessionState> & {
  skippedKeys: Map<string, SkippedKey> | ReadonlyMap<string, SkippedKey>;
};

/** Double Ratchet spec §3.3, Alice: DHs = GENERATE_DH(); DHr = SPK_B; RK, CKs = KDF_RK(SK, DH(DHs, DHr)). */
export function createInitiatorSession(setup: InitiatedSession): SessionState {
  assertObject('setup', setup);
  assertBytes('setup.sharedKey', setup.sharedKey, 32);
  assertBytes('setup.associatedData', setup.associatedData, 64);
  assertBytes('setup.remoteSignedPrekey', setup.remoteSignedPrekey, 32);
  assertPrekeyHeader(setup.header, 'setup.header');
  const ratchet = generateX25519KeyPair();
  const [rootKey, sendingChainKey] = kdfRk(
    setup.sharedKey,
    dh(ratchet.secretKey, setup.remoteSignedPrekey, 'remote signed prekey'),
  );
  return seal({
    initiator: true,
    localIdentityKey: setup.associatedData.slice(0, 32),
    remoteIdentityKey: setup.associatedData.slice(32, 64),
    baseKey: setup.header.ephemeralKey.slice(),
    associatedData: setup.associatedData.slice(),
    rootKey,
    sendingRatchetPublic: ratchet.publicKey,
    sendingRatchetSecret: ratchet.secretKey,
    remoteRatchetKey: setup.remoteSignedPrekey.slice(),
    sendingChainKey,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousSendCount: 0,
    previousChains: [],
    skippedKeys: new Map(),
    pendingPrekey: setup.header,
  });
}

/** Double Ratchet spec §3.3, Bob: DHs = SPK_B key pair; DHr = None; RK = SK; chains empty. */
export function createResponderSession(
  setup: RespondedSession,
  header: PrekeyHeader,
  signedPrekey: { publicKey: Uint8Array; secretKey: Uint8Array },
): SessionState {
  assertObject('setup', setup);
  assertBytes('setup.sharedKey', setup.sharedKey, 32);
  assertBytes('setup.associatedData', setup.associatedData, 64);
  assertPrekeyHeader(header);
  assertObject('signedPrekey', signedPrekey);
  assertBytes('signedPrekey.publicKey', signedPrekey.publicKey, 32);
  assertBytes('signedPrekey.secretKey', signedPrekey.secretKey, 32);
  return seal({
    initiator: false,
    localIdentityKey: setup.associatedData.slice(32, 64),
    remoteIdentityKey: setup.associatedData.slice(0, 32),
    baseKey: header.ephemeralKey.slice(),
    associatedData: setup.associatedData.slice(),
    rootKey: setup.sharedKey.slice(),
    sendingRatchetPublic: signedPrekey.publicKey.slice(),
    sendingRatchetSecret: signedPrekey.secretKey.slice(),
    remoteRatchetKey: null,
    sendingChainKey: null,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousSendCount: 0,
    previousChains: [],
    skippedKeys: new Map(),
    pendingPrekey: null,
  });
}

function writeHeader(out: Uint8Array, at: number, ratchetKey: Uint8Array, pn: number, n: number): void {
  out.set(ratchetKey, at);
  out[at + 32] = pn >>> 24;
  out[at + 33] = pn >>> 16;
  out[at + 34] = pn >>> 8;
  out[at + 35] = pn;
  out[at + 36] = n >>> 24;
  out[at + 37] = n >>> 16;
  out[at + 38] = n >>> 8;
  out[at + 39] = n;
}

function aeadAd(state: SessionState, extraAd: Uint8Array, header: Uint8Array): Uint8Array {
  return concatBytes(state.associatedData, extraAd, header);
}

/**
 * RatchetEncrypt (spec §3.4): CKs, mk = KDF_CK(CKs); header = HEADER(DHs, PN, Ns); Ns += 1.
 * Returns the new state and the message bytes: header (40) || nonce (12) || ciphertext+tag.
 * `extraAd` (e.g. an envelope's prefix) is authenticated too and must be given again to decrypt.
 */
export function ratchetEncrypt(
  state: SessionState,
  plaintext: Uint8Array,
  extraAd: Uint8Array = new Uint8Array(0),
): { state: SessionState; message: Uint8Array } {
  assertBytes('extraAd', extraAd);
  const out = ratchetEncryptPrefixed(state, plaintext, extraAd);
  return { state: out.state, message: out.bytes.subarray(extraAd.length) };
}

/**
 * `ratchetEncrypt`, returning `prefix || message` in one buffer (`prefix` being the extra AD):
 * what an envelope is, without a copy. Decrypt with `ratchetDecrypt(state, message, prefix)`.
 */
export function ratchetEncryptPrefixed(
  state: SessionState,
  plaintext: Uint8Array,
  prefix: Uint8Array,
): { state: SessionState; bytes: Uint8Array } {
  assertSession(state);
  assertBytes('plaintext', plaintext);
  assertBytes('prefix', prefix);
  if (state.sendingChainKey === null) {
    throw new CryptoError('NO_SESSION', 'this session cannot send before it has received a message');
  }
  if (state.sendCount >= 0xffff_ffff) throw new CryptoError('TOO_MANY_SKIPPED', 'sending chain exhausted');
  const primitives = ratchetPrimitives();
  const [nextChainKey, messageKey] = primitives.kdfCk(state.sendingChainKey);
  // prefix || header || nonce || ciphertext || tag, written in place.
  const headerAt = prefix.length;
  const nonceAt = headerAt + HEADER_LENGTH;
  const bodyAt = nonceAt + NONCE_LENGTH;
  const bytes = new Uint8Array(bodyAt + plaintext.length + TAG_LENGTH);
  bytes.set(prefix);
  writeHeader(bytes, headerAt, state.sendingRatchetPublic, state.previousSendCount, state.sendCount);
  const nonce = bytes.subarray(nonceAt, bodyAt);
  randomNonceInto(nonce);
  // AD = session AD || prefix || header: the last two already sit side by side in `bytes`.
  const ad = concatBytes(state.associatedData, bytes.subarray(0, nonceAt));
  bytes.set(primitives.seal(messageKey, nonce, plaintext, ad), bodyAt);
  wipe(messageKey);
  const next = seal({ ...state, sendingChainKey: nextChainKey, sendCount: state.sendCount + 1 });
  return { state: next, bytes };
}

const skipKey = (ratchetKeyHex: string, n: number): string => `${ratchetKeyHex}:${n}`;

/** SkipMessageKeys (spec §3.5), bounded by MAX_SKIP per chain and MAX_SKIPPED_KEYS in total. */
function skipMessageKeys(w: Working, until: number, copied: { skipped: boolean }): void {
  if (w.receivingChainKey === null || w.remoteRatchetKey === null) return;
  if (until > w.receiveCount + MAX_SKIP) {
    throw new CryptoError(
      'TOO_MANY_SKIPPED',
      `message would skip ${until - w.receiveCount} keys (max ${MAX_SKIP})`,
    );
  }
  if (until <= w.receiveCount) return;
  if (!copied.skipped) {
    w.skippedKeys = new Map(w.skippedKeys);
    copied.skipped = true;
  }
  const skipped = w.skippedKeys as Map<string, SkippedKey>;
  const hex = bytesToHex(w.remoteRatchetKey);
  let chainKey = w.receivingChainKey;
  while (w.receiveCount < until) {
    const [next, messageKey] = kdfCk(chainKey);
    skipped.set(skipKey(hex, w.receiveCount), {
      ratchetKey: w.remoteRatchetKey,
      n: w.receiveCount,
      messageKey,
    });
    chainKey = next;
    w.receiveCount += 1;
  }
  w.receivingChainKey = chainKey;
  // Spec §6.5 ("the number of skipped message keys should be limited"): drop the oldest.
  while (skipped.size > MAX_SKIPPED_KEYS) {
    const oldest = skipped.keys().next().value as string;
    skipped.delete(oldest);
  }
}

/** DHRatchet (spec §3.5). */
function dhRatchet(w: Working, remoteKey: Uint8Array): void {
  if (w.remoteRatchetKey !== null) {
    const chains = [...w.previousChains, { ratchetKey: w.remoteRatchetKey, length: w.receiveCount }];
    w.previousChains = chains.slice(Math.max(0, chains.length - MAX_PREVIOUS_CHAINS));
  }
  w.previousSendCount = w.sendCount;
  w.sendCount = 0;
  w.receiveCount = 0;
  w.remoteRatchetKey = remoteKey;
  [w.rootKey, w.receivingChainKey] = kdfRk(
    w.rootKey,
    dh(w.sendingRatchetSecret, remoteKey, 'header ratchet key'),
  );
  const fresh = generateX25519KeyPair();
  w.sendingRatchetPublic = fresh.publicKey;
  w.sendingRatchetSecret = fresh.secretKey;
  [w.rootKey, w.sendingChainKey] = kdfRk(w.rootKey, dh(fresh.secretKey, remoteKey, 'header ratchet key'));
}

function open(messageKey: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  try {
    return ratchetPrimitives().open(messageKey, nonce, ciphertext, ad);
  } catch (cause) {
    throw new CryptoError('DECRYPT_FAILED', 'message authentication failed', { cause });
  } finally {
    wipe(messageKey);
  }
}

/**
 * RatchetDecrypt (spec §3.5) on a working copy, committed only if authentication succeeds.
 * Errors: BAD_FORMAT/TRUNCATED (malformed), DUPLICATE_MESSAGE (key already used: a replay; also a
 * message whose skipped key was discarded by MAX_SKIPPED_KEYS), TOO_MANY_SKIPPED, DECRYPT_FAILED.
 */
export function ratchetDecrypt(
  state: SessionState,
  message: Uint8Array,
  extraAd: Uint8Array = new Uint8Array(0),
): { state: SessionState; plaintext: Uint8Array } {
  assertSession(state);
  assertBytes('message', message);
  assertBytes('extraAd', extraAd);
  if (message.length < HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH) {
    throw new CryptoError('TRUNCATED', 'ratchet message is too short');
  }
  const header = message.subarray(0, HEADER_LENGTH);
  const view = new DataView(message.buffer, message.byteOffset, HEADER_LENGTH);
  const ratchetKey = message.slice(0, 32);
  const pn = view.getUint32(32, false);
  const n = view.getUint32(36, false);
  const nonce = message.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH);
  const ciphertext = message.subarray(HEADER_LENGTH + NONCE_LENGTH);
  const ad = aeadAd(state, extraAd, header);

  // TrySkippedMessageKeys.
  const id = skipKey(bytesToHex(ratchetKey), n);
  const stored = state.skippedKeys.get(id);
  if (stored !== undefined) {
    const plaintext = open(stored.messageKey.slice(), nonce, ad, ciphertext);
    const skippedKeys = new Map(state.skippedKeys);
    skippedKeys.delete(id);
    return { state: seal({ ...state, skippedKeys, pendingPrekey: null }), plaintext };
  }
  const current = state.remoteRatchetKey !== null && equalBytes(ratchetKey, state.remoteRatchetKey);
  if (current && n < state.receiveCount) {
    throw new CryptoError('DUPLICATE_MESSAGE', `message ${n} of the current chain was already received`);
  }
  if (!current) {
    const previous = state.previousChains.find((c) => equalBytes(c.ratchetKey, ratchetKey));
    if (previous !== undefined) {
      if (n < previous.length)
        throw new CryptoError('DUPLICATE_MESSAGE', `message ${n} of an old chain was already received`);
      throw new CryptoError('DECRYPT_FAILED', 'message beyond the end of a finished chain');
    }
  }

  const w = { ...state } as Working;
  const copied = { skipped: false };
  if (!current) {
    skipMessageKeys(w, pn, copied);
    dhRatchet(w, ratchetKey);
  }
  skipMessageKeys(w, n, copied);
  const [nextChainKey, messageKey] = kdfCk(w.receivingChainKey!);
  w.receivingChainKey = nextChainKey;
  w.receiveCount += 1;
  const plaintext = open(messageKey, nonce, ad, ciphertext);
  w.pendingPrekey = null; // a reply from Bob proves he has the session (PQXDH no longer needed)
  return { state: seal(w), plaintext };
}

/** The ratchet header fields of a message, without decrypting (for diagnostics and routing). */
export function readRatchetHeader(message: Uint8Array): {
  ratchetKey: Uint8Array;
  previousCount: number;
  count: number;
} {
  assertBytes('message', message);
  const reader = new ByteReader(message, 'ratchet message');
  return { ratchetKey: reader.copyN(32), previousCount: reader.u32(), count: reader.u32() };
}

// Serialization, version 1:
//   u8 version || u8 flags (1 initiator, 2 DHr, 4 CKs, 8 CKr, 16 pending prekey)
//   || localIdentityKey 32 || remoteIdentityKey 32 || baseKey 32 || rootKey 32
//   || DHs public 32 || DHs secret 32 || [DHr 32] || [CKs 32] || [CKr 32]
//   || u32 Ns || u32 Nr || u32 PN
//   || u16 #previous chains || (key 32 || u32 length)*
//   || u16 #skipped keys || (ratchet key 32 || u32 n || message key 32)*   (oldest first)
//   || [u32 length || prekey header]

/** Serializes a session (it holds secrets: store it as such). First byte: SESSION_FORMAT_VERSION. */
export function serializeSession(state: SessionState): Uint8Array {
  assertSession(state);
  const flags =
    (state.initiator ? 1 : 0) |
    (state.remoteRatchetKey ? 2 : 0) |
    (state.sendingChainKey ? 4 : 0) |
    (state.receivingChainKey ? 8 : 0) |
    (state.pendingPrekey ? 16 : 0);
  const parts: Uint8Array[] = [
    u8(SESSION_FORMAT_VERSION),
    u8(flags),
    state.localIdentityKey,
    state.remoteIdentityKey,
    state.baseKey,
    state.rootKey,
    state.sendingRatchetPublic,
    state.sendingRatchetSecret,
  ];
  if (state.remoteRatchetKey) parts.push(state.remoteRatchetKey);
  if (state.sendingChainKey) parts.push(state.sendingChainKey);
  if (state.receivingChainKey) parts.push(state.receivingChainKey);
  parts.push(u32be(state.sendCount), u32be(state.receiveCount), u32be(state.previousSendCount));
  parts.push(u16be(state.previousChains.length));
  for (const c of state.previousChains) parts.push(c.ratchetKey, u32be(c.length));
  parts.push(u16be(state.skippedKeys.size));
  for (const k of state.skippedKeys.values()) parts.push(k.ratchetKey, u32be(k.n), k.messageKey);
  if (state.pendingPrekey) {
    const header = encodePrekeyHeader(state.pendingPrekey);
    parts.push(u32be(header.length), header);
  }
  return concatBytes(...parts);
}

/** Parses `serializeSession` output. UNSUPPORTED_VERSION for an unknown version byte. */
export function deserializeSession(bytes: Uint8Array): SessionState {
  assertBytes('bytes', bytes);
  const r = new ByteReader(bytes, 'session');
  const version = r.u8();
  if (version !== SESSION_FORMAT_VERSION) {
    throw new CryptoError('UNSUPPORTED_VERSION', `session format version ${version} is not supported`);
  }
  const flags = r.u8();
  if (flags & ~31) throw new CryptoError('BAD_FORMAT', 'session: unknown flags');
  const localIdentityKey = r.copyN(PUBLIC_KEY_LENGTH);
  const remoteIdentityKey = r.copyN(PUBLIC_KEY_LENGTH);
  const baseKey = r.copyN(32);
  const rootKey = r.copyN(32);
  const sendingRatchetPublic = r.copyN(32);
  const sendingRatchetSecret = r.copyN(32);
  const remoteRatchetKey = flags & 2 ? r.copyN(32) : null;
  const sendingChainKey = flags & 4 ? r.copyN(32) : null;
  const receivingChainKey = flags & 8 ? r.copyN(32) : null;
  const sendCount = r.u32();
  const receiveCount = r.u32();
  const previousSendCount = r.u32();
  const chainCount = r.u16();
  if (chainCount > MAX_PREVIOUS_CHAINS)
    throw new CryptoError('BAD_FORMAT', 'session: too many previous chains');
  const previousChains: PreviousChain[] = [];
  for (let i = 0; i < chainCount; i++) previousChains.push({ ratchetKey: r.copyN(32), length: r.u32() });
  const skippedCount = r.u16();
  if (skippedCount > MAX_SKIPPED_KEYS) throw new CryptoError('BAD_FORMAT', 'session: too many skipped keys');
  const skippedKeys = new Map<string, SkippedKey>();
  for (let i = 0; i < skippedCount; i++) {
    const ratchetKey = r.copyN(32);
    const n = r.u32();
    const messageKey = r.copyN(32);
    skippedKeys.set(skipKey(bytesToHex(ratchetKey), n), { ratchetKey, n, messageKey });
  }
  let pendingPrekey: PrekeyHeader | null = null;
  if (flags & 16) {
    const length = r.u32();
    const inner = new ByteReader(r.bytesN(length), 'session pending prekey header');
    pendingPrekey = readPrekeyHeader(inner);
    inner.end();
  }
  r.end();
  const initiator = (flags & 1) === 1;
  return seal({
    initiator,
    localIdentityKey,
    remoteIdentityKey,
    baseKey,
    associatedData: initiator
      ? concatBytes(localIdentityKey, remoteIdentityKey)
      : concatBytes(remoteIdentityKey, localIdentityKey),
    rootKey,
    sendingRatchetPublic,
    sendingRatchetSecret,
    remoteRatchetKey,
    sendingChainKey,
    receivingChainKey,
    sendCount,
    receiveCount,
    previousSendCount,
    previousChains,
    skippedKeys,
    pendingPrekey,
  });
}
