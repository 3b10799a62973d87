/**
 * Client fan-out: one envelope per recipient device (DESIGN.md invariant 5), each encrypted with
 * that device's own Double Ratchet session; a device without a session gets one built from its
 * prekey bundle (PQXDH), and its envelopes are "prekey messages" carrying the PQXDH header until
 * the device answers.
 *
 * Envelope bytes (version 1):
 *   u8 version (1) || u8 type (1 = prekey message, 2 = normal message)
 *   || [prekey header, type 1 only; see session.ts encodePrekeyHeader]
 *   || ratchet message: ratchet key (32) || u32 PN || u32 N || nonce (12) || ciphertext || tag (16)
 * Everything before the ciphertext is authenticated as associated data, so any change fails.
 *
 * Sessions are immutable values: every call returns the new session for each device, and the
 * caller (the SDK, holding a map keyed by (accountId, deviceId)) persists it before sending.
 */
import { CryptoError, invalidArgument } from './errors.js';
import { type IdentityKeyPair, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH } from './identity.js';
import type { OneTimePrekey, PqPrekey, PrekeyBundle, SignedPrekey } from './prekeys.js';
import {
  assertSession,
  createInitiatorSession,
  createResponderSession,
  ratchetDecrypt,
  ratchetEncryptPrefixed,
  type SessionState,
} from './ratchet.js';
import {
  encodePrekeyHeader,
  initiateSession,
  type PrekeyHeader,
  readPrekeyHeader,
  respondToSession,
} from './session.js';
import {
  assertAccountId,
  assertArray,
  assertBytes,
  assertDeviceId,
  assertObject,
  assertUint32,
  ByteReader,
  concatBytes,
  equalBytes,
} from './utils.js';

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_TYPE_PREKEY = 1;
export const ENVELOPE_TYPE_NORMAL = 2;
export type EnvelopeType = typeof ENVELOPE_TYPE_PREKEY | typeof ENVELOPE_TYPE_NORMAL;

/** The sending device. */
export interface SenderContext {
  identity: IdentityKeyPair;
  /** The sender's registration id, carried in prekey messages. */
  registrationId: number;
}

/** One recipient device of a send. */
export interface RecipientDevice {
  accountId: string;
  deviceId: number;
  /** The device's identity key as vouched for by its account's signed device list. */
  identityKey: Uint8Array;
  /** The current session with the device, if any. */
  session?: SessionState | undefined;
  /** The device's prekey bundle; required when there is no session (or it cannot send yet). */
  bundle?: PrekeyBundle | undefined;
}

export interface DeviceEnvelope {
  accountId: string;
  deviceId: number;
  type: EnvelopeType;
  envelope: Uint8Array;
  /** The session after this send: persist it (keyed by accountId, deviceId) before sending. */
  session: SessionState;
  /** True when this call created the session from `bundle`. */
  sessionCreated: boolean;
}

function assertSender(sender: SenderContext): void {
  assertObject('sender', sender);
  assertObject('sender.identity', sender.identity);
  assertBytes('sender.identity.publicKey', sender.identity.publicKey, PUBLIC_KEY_LENGTH);
  assertBytes('sender.identity.secretKey', sender.identity.secretKey, SECRET_KEY_LENGTH);
  assertUint32('sender.registrationId', sender.registrationId);
}

function encryptOne(
  sender: SenderContext,
  plaintext: Uint8Array,
  device: RecipientDevice,
  name: string,
): DeviceEnvelope {
  assertObject(name, device);
  assertAccountId(`${name}.accountId`, device.accountId);
  assertDeviceId(`${name}.deviceId`, device.deviceId);
  assertBytes(`${name}.identityKey`, device.identityKey, PUBLIC_KEY_LENGTH);
  let session = device.session;
  let sessionCreated = false;
  if (session !== undefined) {
    assertSession(session, `${name}.session`);
    if (!equalBytes(session.remoteIdentityKey, device.identityKey)) {
      throw new CryptoError('IDENTITY_MISMATCH', `${name}: session belongs to another identity key`);
    }
    if (!equalBytes(session.localIdentityKey, sender.identity.publicKey)) {
      throw new CryptoError('IDENTITY_MISMATCH', `${name}: session belongs to another local identity`);
    }
    if (session.sendingChainKey === null) session = undefined; // cannot send yet: start afresh
  }
  if (session === undefined) {
    const bundle = device.bundle;
    if (bundle === undefined) {
      throw new CryptoError(
        'NO_SESSION',
        `${name}: no session with device ${device.deviceId} and no prekey bundle`,
      );
    }
    assertObject(`${name}.bundle`, bundle);
    if (bundle.deviceId !== device.deviceId)
      throw invalidArgument(`${name}.bundle.deviceId`, 'does not match deviceId');
    assertBytes(`${name}.bundle.identityKey`, bundle.identityKey, PUBLIC_KEY_LENGTH);
    if (!equalBytes(bundle.identityKey, device.identityKey)) {
      throw new CryptoError('IDENTITY_MISMATCH', `${name}: bundle identity key differs from the device's`);
    }
    session = createInitiatorSession(initiateSession(sender.identity, sender.registrationId, bundle));
    sessionCreated = true;
  }
  const type: EnvelopeType = session.pendingPrekey ? ENVELOPE_TYPE_PREKEY : ENVELOPE_TYPE_NORMAL;
  const prefix =
    type === ENVELOPE_TYPE_PREKEY
      ? concatBytes(Uint8Array.of(ENVELOPE_VERSION, type), encodePrekeyHeader(session.pendingPrekey!))
      : Uint8Array.of(ENVELOPE_VERSION, type);
  const result = ratchetEncryptPrefixed(session, plaintext, prefix);
  return {
    accountId: device.accountId,
    deviceId: device.deviceId,
    type,
    envelope: result.bytes,
    session: result.state,
    sessionCreated,
  };
}

/**
 * Encrypts `plaintext` once per device. All-or-nothing: if any device fails (no session and no
 * bundle, bad bundle signature, identity mismatch), a CryptoError naming `devices[i]` is thrown
 * and no session has changed (the inputs are never modified).
 */
export function encryptForDevices(
  sender: SenderContext,
  plaintext: Uint8Array,
  devices: RecipientDevice[],
): DeviceEnvelope[] {
  assertSender(sender);
  assertBytes('plaintext', plaintext);
  assertArray('devices', devices);
  const seen = new Set<string>();
  return devices.map((device, i) => {
    const key = `${device?.accountId}/${device?.deviceId}`;
    if (seen.has(key)) throw invalidArgument(`devices[${i}]`, 'is listed twice');
    seen.add(key);
    return encryptOne(sender, plaintext, device, `devices[${i}]`);
  });
}

/** Parsed outer layer of an envelope (no decryption). */
export interface EnvelopeInfo {
  version: number;
  type: EnvelopeType;
  /** Present for prekey messages: which of the recipient's prekeys it needs. */
  prekeyHeader?: PrekeyHeader | undefined;
}

function parse(envelope: Uint8Array): { info: EnvelopeInfo; prefix: Uint8Array; message: Uint8Array } {
  const r = new ByteReader(envelope, 'envelope');
  const version = r.u8();
  if (version !== ENVELOPE_VERSION)
    throw new CryptoError('UNSUPPORTED_VERSION', `envelope version ${version} is not supported`);
  const type = r.u8();
  if (type !== ENVELOPE_TYPE_PREKEY && type !== ENVELOPE_TYPE_NORMAL) {
    throw new CryptoError('BAD_FORMAT', `unknown envelope type ${type}`);
  }
  const prekeyHeader = type === ENVELOPE_TYPE_PREKEY ? readPrekeyHeader(r) : undefined;
  const prefix = envelope.subarray(0, r.position);
  return { info: { version, type, prekeyHeader }, prefix, message: r.rest() };
}

/** Reads an envelope's version, type and prekey header, e.g. to load the needed prekeys first. */
export function readEnvelope(envelope: Uint8Array): EnvelopeInfo {
  assertBytes('envelope', envelope);
  return parse(envelope).info;
}

/** The receiving device's prekeys, looked up by id (return undefined when deleted or unknown). */
export interface PrekeyStore {
  signedPrekey(id: number): SignedPrekey | undefined;
  oneTimePrekey(id: number): OneTimePrekey | undefined;
  pqPrekey(id: number): PqPrekey | undefined;
}

export interface DecryptContext {
  /** The receiving device's identity. */
  identity: IdentityKeyPair;
  /** The sending device's identity key, as vouched for by its account's signed device list. */
  senderIdentityKey: Uint8Array;
  /** The current session with the sending device, if any. */
  session?: SessionState | undefined;
  /** Needed to accept a prekey message that starts a new session. */
  prekeys?: PrekeyStore | undefined;
}

export interface DecryptedEnvelope {
  plaintext: Uint8Array;
  /** The session after this message: persist it (it replaces the previous one, if any). */
  session: SessionState;
  /** True when this message started a new session (PQXDH responder side). */
  sessionCreated: boolean;
  /**
   * When a session was created: the prekeys used. Delete the one-time prekey, and the PQ prekey
   * unless it is the last-resort one, once the new session is persisted (PQXDH §3.4).
   */
  usedPrekeys?: {
    signedPrekeyId: number;
    oneTimePrekeyId?: number | undefined;
    pqPrekeyId: number;
    pqLastResort: boolean;
  };
}

/** Runs a caller-supplied lookup; anything it throws becomes a CryptoError (MISSING_PREKEY). */
function lookup<T>(fn: () => T | undefined): T | undefined {
  try {
    return fn();
  } catch (cause) {
    if (cause instanceof CryptoError) throw cause;
    throw new CryptoError('MISSING_PREKEY', 'prekey store lookup failed', { cause });
  }
}

/**
 * Decrypts one envelope from one device. Errors (all CryptoError, none changes any state):
 * UNSUPPORTED_VERSION, BAD_FORMAT, TRUNCATED, NO_SESSION, MISSING_PREKEY, IDENTITY_MISMATCH,
 * DUPLICATE_MESSAGE, TOO_MANY_SKIPPED, DECRYPT_FAILED, INVALID_KEY.
 */
export function decryptEnvelope(envelope: Uint8Array, context: DecryptContext): DecryptedEnvelope {
  assertBytes('envelope', envelope);
  assertObject('context', context);
  assertObject('context.identity', context.identity);
  assertBytes('context.identity.publicKey', context.identity.publicKey, PUBLIC_KEY_LENGTH);
  assertBytes('context.identity.secretKey', context.identity.secretKey, SECRET_KEY_LENGTH);
  assertBytes('context.senderIdentityKey', context.senderIdentityKey, PUBLIC_KEY_LENGTH);
  const existing = context.session;
  if (existing !== undefined) {
    assertSession(existing, 'context.session');
    if (!equalBytes(existing.remoteIdentityKey, context.senderIdentityKey)) {
      throw new CryptoError('IDENTITY_MISMATCH', 'context.session belongs to another identity key');
    }
  }
  const { info, prefix, message } = parse(envelope);
  if (info.type === ENVELOPE_TYPE_NORMAL) {
    if (existing === undefined) throw new CryptoError('NO_SESSION', 'normal message without a session');
    const out = ratchetDecrypt(existing, message, prefix);
    return { plaintext: out.plaintext, session: out.state, sessionCreated: false };
  }
  const header = info.prekeyHeader!;
  if (!equalBytes(header.identityKey, context.senderIdentityKey)) {
    throw new CryptoError('IDENTITY_MISMATCH', "prekey message's identity key is not the sender's");
  }
  if (existing !== undefined && equalBytes(existing.baseKey, header.ephemeralKey)) {
    // Alice repeats the header until Bob answers: same PQXDH run, so use the existing session.
    const out = ratchetDecrypt(existing, message, prefix);
    return { plaintext: out.plaintext, session: out.state, sessionCreated: false };
  }
  const store = context.prekeys;
  if (store === undefined)
    throw new CryptoError('MISSING_PREKEY', 'prekey message but no prekey store given');
  assertObject('context.prekeys', store);
  const signedPrekey = lookup(() => store.signedPrekey(header.signedPrekeyId));
  if (signedPrekey === undefined)
    throw new CryptoError('MISSING_PREKEY', `signed prekey ${header.signedPrekeyId} not found`);
  const pqPrekey = lookup(() => store.pqPrekey(header.pqPrekeyId));
  if (pqPrekey === undefined)
    throw new CryptoError('MISSING_PREKEY', `PQ prekey ${header.pqPrekeyId} not found`);
  let oneTimePrekey: OneTimePrekey | undefined;
  if (header.oneTimePrekeyId !== undefined) {
    const id = header.oneTimePrekeyId;
    oneTimePrekey = lookup(() => store.oneTimePrekey(id));
    if (oneTimePrekey === undefined) {
      throw new CryptoError(
        'MISSING_PREKEY',
        `one-time prekey ${header.oneTimePrekeyId} not found (already used?)`,
      );
    }
  }
  const setup = respondToSession(context.identity, { signedPrekey, oneTimePrekey, pqPrekey }, header);
  const fresh = createResponderSession(setup, header, signedPrekey);
  const out = ratchetDecrypt(fresh, message, prefix);
  return {
    plaintext: out.plaintext,
    session: out.state,
    sessionCreated: true,
    usedPrekeys: {
      signedPrekeyId: header.signedPrekeyId,
      oneTimePrekeyId: header.oneTimePrekeyId,
      pqPrekeyId: header.pqPrekeyId,
      pqLastResort: pqPrekey.lastResort,
    },
  };
}
