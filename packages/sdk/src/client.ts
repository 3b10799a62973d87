import {
  counterSignCompanion,
  decodeDeviceIdentityDetails,
  decodeDeviceList,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
  verifyCompanion,
  verifyDeviceList,
} from '@tandem/crypto/device-signatures';
import { isCryptoError } from '@tandem/crypto/errors';
import { encryptForDevices, type RecipientDevice, readEnvelope } from '@tandem/crypto/fanout';
import { decryptHistoryBundle, encryptHistoryBundle } from '@tandem/crypto/history';
import { generateIdentity, type IdentityKeyPair, signAuthChallenge } from '@tandem/crypto/identity';
import {
  createLinkOffer,
  decodeQrPayload,
  encodeQrPayload,
  openLinkingPayload,
  sealLinkingPayload,
} from '@tandem/crypto/linking';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generatePqPrekeys,
  generateSignedPrekey,
  type OneTimePrekey,
  type PqPrekey,
  type PrekeyBundle,
  type SignedPrekey,
  verifyPrekeyBundle,
} from '@tandem/crypto/prekeys';
import type { SessionState } from '@tandem/crypto/ratchet';
import { safetyNumber } from '@tandem/crypto/safety-number';
import {
  decryptWithRecord,
  deserializeSessionRecord,
  EMPTY_SESSION_RECORD,
  promoteSession,
  type SessionRecord,
  serializeSessionRecord,
} from '@tandem/crypto/session-record';
import {
  CLOSE_CODE_RECONNECT,
  CloseCode,
  ContentSchema,
  create,
  type Deliver,
  type DeviceBundle,
  type DeviceList,
  decodeContent,
  decodeLinkingPayload,
  EnvelopeType,
  encodeContent,
  encodeLinkingPayload,
  LinkCancelReason,
  LinkingPayloadSchema,
  MAX_COMPANIONS,
  MAX_HISTORY_CHUNK_BYTES,
  MAX_ONE_TIME_PREKEYS_PER_UPLOAD,
  MAX_RETRY_ATTEMPTS,
  type MessageInitShape,
  Platform,
  type Receipt,
  ReceiptKind,
  type ServerFrame,
} from '@tandem/proto';
import { concat, decodeJson, encodeJson, equalBytes, hex, randomId, randomUint31 } from './codec.js';
import { Emitter } from './emitter.js';
import { TandemError } from './errors.js';
import type { KeyValueStore } from './store.js';
import {
  type Body,
  Connection,
  defaultWebSocket,
  type Reply,
  type WebSocketConstructor,
} from './transport.js';

export interface DeviceAddress {
  accountId: string;
  deviceId: number;
}

/** A message from another device, decrypted and verified. */
export interface InboundMessage {
  serverId: string;
  from: DeviceAddress;
  clientMessageId: string;
  text: string;
  data: Uint8Array;
  sentAtMs: number;
  serverTimestampMs: number;
  /** Set when this is a copy of a message this account sent from another of its devices. */
  sentTo?: string | undefined;
}

export interface ReceiptEvent {
  /**
   * delivered: the device acknowledged the message (after decrypting it). expired: the copy's
   * time-to-live passed before the device fetched it. failed: the device could not decrypt it,
   * even after it asked for the message again and this device sent it again.
   */
  kind: 'delivered' | 'expired' | 'failed';
  clientMessageId: string;
  device: DeviceAddress;
  atMs: number;
}

export interface TandemEvents {
  /** A decrypted message. Listeners may be async: the copy is acknowledged after they finish. */
  message: InboundMessage;
  receipt: ReceiptEvent;
  /** A history bundle from the primary, decrypted (companions, after linking). */
  history: { data: Uint8Array; from: DeviceAddress };
  /** The backlog queued while offline has been delivered. */
  'queue-empty': undefined;
  connected: DeviceAddress;
  disconnected: { code: number; reason: string; willReconnect: boolean };
  /** The account's (or a contact's) device list changed; it was fetched and verified again. */
  'devices-changed': { accountId: string };
  /** A contact's set of identity keys changed: compare safety numbers again. */
  'security-code-changed': { accountId: string };
  /** This device was unlinked; its store has been wiped. */
  unlinked: undefined;
  /** A newer connection of this device took over (no automatic reconnect). */
  displaced: undefined;
  /**
   * A message from another device could not be decrypted, even after asking its sender to send
   * it again (MAX_RETRY_ATTEMPTS times). Its sender is told too (a `failed` receipt).
   */
  undecryptable: { from: DeviceAddress; clientMessageId: string };
  /** Something failed in the background (a message that did not decrypt, a failed top-up). */
  warning: { message: string; error?: unknown };
}

export interface TandemOptions {
  /** The gateway's WebSocket URL, e.g. ws://127.0.0.1:8080/v1/ws. */
  url: string;
  store: KeyValueStore;
  WebSocket?: WebSocketConstructor;
  requestTimeoutMs?: number;
  /**
   * How long a call made while the socket is reconnecting or authenticating waits for it before
   * failing with DISCONNECTED (default: requestTimeoutMs, else 15 s). An interactive app that
   * would rather say "not connected" at once passes a short wait.
   */
  connectionWaitMs?: number;
  /** Reconnect after an unexpected close (default true). */
  reconnect?: boolean;
  reconnectDelayMs?: { min: number; max: number };
  /** Device name and platform shown in the account's device list. */
  name?: string;
  platform?: Platform;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface SendResult {
  clientMessageId: string;
  serverTimestampMs: number;
  /** Server id of each queued copy. */
  copies: Array<DeviceAddress & { serverId: string }>;
}

export interface TrustedDevice {
  deviceId: number;
  registrationId: number;
  identityKey: Uint8Array;
  name: string;
  platform: Platform;
  linkedAtMs: number;
}

interface TrustRecord {
  primaryIdentityKey: Uint8Array;
  listIndex: number;
  devices: TrustedDevice[];
  nextDeviceId: number;
}

interface DeviceState {
  version: 1;
  accountId: string;
  deviceId: number;
  isPrimary: boolean;
  handle: string;
  identity: IdentityKeyPair;
  registrationId: number;
  primaryIdentityKey: Uint8Array;
  nextOneTimeId: number;
  nextPqId: number;
  /** Primary only: how many companions it has linked (the ADV key index). */
  keyIndex: number;
}

interface Pending {
  serverId: string;
  kind: 'message' | 'history' | 'retry';
  message?: InboundMessage;
  history?: { from: DeviceAddress; blobId: string; key: Uint8Array; sha256: Uint8Array; totalChunks: number };
  retry?: { from: DeviceAddress; clientMessageId: string; attempt: number; final: boolean };
}

/** What this device sent, kept so it can send a message again when a recipient device asks. */
interface SendLogEntry {
  atMs: number;
  to: string;
  /** Encoded Content for the recipient account's devices and for this account's other devices. */
  forRecipient: Uint8Array;
  forOwnDevices: Uint8Array;
}

/** A resend in flight: its server-level clientMessageId maps back to the original message. */
interface ResendEntry {
  atMs: number;
  original: string;
  device: DeviceAddress;
  /** The device asked for this resend again (it did not decrypt either): its receipt is not final. */
  superseded?: boolean;
}

const INITIAL_ONE_TIME = 50;
const INITIAL_PQ = 10;
const LOW_WATERMARK = 20;
const SEND_ATTEMPTS = 4;
/** Repeats of one unchanged send request whose outcome is unknown (see `sendIdempotent`). */
const SEND_RETRIES = 3;
/** Failures after which a request may or may not have taken effect. */
const UNKNOWN_OUTCOME = ['TIMEOUT', 'UNAVAILABLE', 'INTERNAL'] as const;
const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A failure that says nothing about the request itself: trying again later may work. */
const isTransient = (error: unknown): boolean =>
  error instanceof TandemError &&
  ([...UNKNOWN_OUTCOME, 'DISCONNECTED', 'RATE_LIMITED'] as readonly string[]).includes(error.code);
const ACK_BATCH = 64;
const SEEN_TTL_MS = 31 * 24 * 3600 * 1000;
/** Expired `seen/` entries are looked for at most this often, SEEN_SWEEP_CHUNK keys per step. */
const SEEN_SWEEP_INTERVAL_MS = 24 * 3600 * 1000;
const SEEN_SWEEP_CHUNK = 500;
/** Server-level id of the n-th resend of a message (n = 1..): the recipient reads n from it. */
const RESEND_ID = /^rs(\d{1,2})-/;

const K = {
  device: 'device',
  session: (a: DeviceAddress) => `session/${a.accountId}/${a.deviceId}`,
  signed: (id: number) => `prekey/signed/${id}`,
  oneTime: (id: number) => `prekey/ot/${id}`,
  pq: (id: number) => `prekey/pq/${id}`,
  trust: (accountId: string) => `trust/${accountId}`,
  seen: (serverId: string) => `seen/${serverId}`,
  /** A message handed to the application, by (sender device, clientMessageId). */
  seenMessage: (from: DeviceAddress, clientMessageId: string) =>
    `seen/msg/${from.accountId}/${from.deviceId}/${clientMessageId}`,
  /** A receipt reported to the application, by (message, recipient device, kind). */
  seenReceipt: (clientMessageId: string, device: DeviceAddress, kind: string) =>
    `seen/rcpt/${clientMessageId}/${device.accountId}/${device.deviceId}/${kind}`,
  pending: (serverId: string) => `pending/${serverId}`,
  /** When the `seen/` entries were last swept for expiry. */
  seenSweptAt: 'meta/seen-swept-at',
  /** What this device sent, by clientMessageId (for resends; swept after SEEN_TTL_MS). */
  sendLog: (clientMessageId: string) => `seen/sent/${clientMessageId}`,
  /** A resend's server-level clientMessageId -> the original message and device. */
  resend: (clientMessageId: string) => `seen/resend/${clientMessageId}`,
  /** A recipient device asked for `clientMessageId` again: its delivered receipt is not final. */
  retrying: (clientMessageId: string, device: DeviceAddress) =>
    `seen/retrying/${clientMessageId}/${device.accountId}/${device.deviceId}`,
  /** Retry requests this device sent: their receipts are not the application's. */
  control: (clientMessageId: string) => `seen/ctl/${clientMessageId}`,
};

/**
 * One Tandem device: a phone (primary) or a companion. Create it with `register` (a new account's
 * primary), `link` (a companion, by QR) or `open` (a device already in the store), then `connect`.
 */
export class TandemClient extends Emitter<TandemEvents> {
  private conn: Connection | undefined;
  /** `conn` once it has authenticated (sends wait for this, not for an open socket). */
  private authed: Connection | undefined;
  /** Callers of `ready()` waiting for an authenticated connection. */
  private readonly authWaiters = new Set<() => void>();
  private wantConnected = false;
  private reconnectAttempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by close(): a connect() still opening a socket from before then drops it. */
  private generation = 0;
  private readonly trustCache = new Map<string, TrustRecord>();
  private inbound: Promise<void> = Promise.resolve();
  /** Timers of inbound work that waits to run again (see `later`); cleared by close(). */
  private readonly laterTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Tail of the session lock: see `withSessions`. */
  private sessionLock: Promise<unknown> = Promise.resolve();
  private ackBuffer: string[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Tail of the ack flushes, which run one at a time (close() waits for the last). */
  private ackFlush: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  private constructor(
    private readonly options: TandemOptions & { WebSocket: WebSocketConstructor },
    private state: DeviceState,
  ) {
    super();
    this.now = options.now ?? Date.now;
  }

  get accountId(): string {
    return this.state.accountId;
  }
  get deviceId(): number {
    return this.state.deviceId;
  }
  get isPrimary(): boolean {
    return this.state.isPrimary;
  }
  get handle(): string {
    return this.state.handle;
  }
  get identityKey(): Uint8Array {
    return this.state.identity.publicKey;
  }
  get connected(): boolean {
    return this.conn?.isOpen ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Creating a device

  /** Registers a new account with `handle` and makes this device its primary. */
  static async register(
    options: TandemOptions & {
      handle: string;
      /** Called once the server has sent the verification code; returns the code. */
      getCode: (info: { expiresAtMs: number }) => Promise<string>;
    },
  ): Promise<TandemClient> {
    const WebSocket = options.WebSocket ?? (await defaultWebSocket());
    const identity = generateIdentity();
    const registrationId = randomUint31();
    const keys = generateInitialPrekeys(identity);
    const conn = await Connection.open(options.url, {
      WebSocket,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    try {
      const sent = await conn.request('registerRequestCode', { handle: options.handle });
      const code = await options.getCode({ expiresAtMs: Number(sent.expiresAtMs) });
      const registered = await conn.request('registerVerify', {
        handle: options.handle,
        code,
        identityKey: identity.publicKey,
        registrationId,
        signedPrekey: publicSigned(keys.signed),
        oneTimePrekeys: keys.oneTime.map(publicOneTime),
        pqPrekeys: keys.pq.map(publicPq),
        pqLastResortPrekey: publicPq(keys.lastResort),
        name: options.name ?? 'phone',
        platform: options.platform ?? Platform.CLI,
      });
      const state: DeviceState = {
        version: 1,
        accountId: registered.accountId,
        deviceId: registered.deviceId,
        isPrimary: true,
        handle: options.handle,
        identity,
        registrationId,
        primaryIdentityKey: identity.publicKey,
        nextOneTimeId: INITIAL_ONE_TIME + 1,
        nextPqId: INITIAL_PQ + 2,
        keyIndex: 0,
      };
      await options.store.clear();
      await options.store.write([[K.device, encodeJson(state)], ...prekeyEntries(keys)]);
      const client = new TandemClient({ ...options, WebSocket }, state);
      client.wantConnected = true;
      client.attach(conn);
      await client.authenticate(conn);
      return client;
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /**
   * Starts linking this device as a companion: returns the QR payload to show and a promise that
   * resolves with the connected device once the phone has approved and the link completed.
   */
  static async link(options: TandemOptions): Promise<LinkSession> {
    const WebSocket = options.WebSocket ?? (await defaultWebSocket());
    const identity = generateIdentity();
    const registrationId = randomUint31();
    const offer = createLinkOffer();
    const conn = await Connection.open(options.url, {
      WebSocket,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    const code = await conn.request('linkStart', {
      identityKey: identity.publicKey,
      ephemeralKey: offer.ephemeralPublicKey,
      registrationId,
      name: options.name ?? 'companion',
      platform: options.platform ?? Platform.CLI,
    });
    const qr = encodeQrPayload({
      linkId: code.linkId,
      ephemeralPublicKey: offer.ephemeralPublicKey,
      identityPublicKey: identity.publicKey,
      secret: offer.secret,
    });
    const done = new Promise<TandemClient>((resolve, reject) => {
      conn.onClose = (c, reason) =>
        reject(new TandemError('DISCONNECTED', `linking socket closed (${c} ${reason})`));
      conn.onPush = (frame) => {
        if (frame.body.case === 'linkCancelled') {
          const reason = frame.body.value.reason;
          reject(
            new TandemError(
              reason === LinkCancelReason.EXPIRED
                ? 'LINK_EXPIRED'
                : reason === LinkCancelReason.DEVICE_LIMIT
                  ? 'DEVICE_LIMIT'
                  : 'LINK_CANCELLED',
              `the link was cancelled (${LinkCancelReason[reason]})`,
            ),
          );
          conn.close();
          return;
        }
        if (frame.body.case !== 'linkPayload') return;
        const payloadFrame = frame.body.value;
        (async () => {
          const opened = openLinkingPayload({
            linkId: code.linkId,
            offer,
            companionIdentityPublic: identity.publicKey,
            sealed: payloadFrame.sealedPayload,
          });
          const payload = decodeLinkingPayload(opened);
          const details = decodeDeviceIdentityDetails(payload.details);
          if (
            payload.accountId !== payloadFrame.accountId ||
            payload.deviceId !== payloadFrame.deviceId ||
            details.accountId !== payload.accountId ||
            details.deviceId !== payload.deviceId ||
            !equalBytes(details.identityKey, identity.publicKey)
          ) {
            throw new TandemError('UNTRUSTED_DEVICES', 'the linking payload does not describe this device');
          }
          const deviceSignature = counterSignCompanion(
            identity.secretKey,
            payload.details,
            payload.accountSignature,
            payload.primaryIdentityKey,
          );
          const keys = generateInitialPrekeys(identity);
          const state: DeviceState = {
            version: 1,
            accountId: payload.accountId,
            deviceId: payload.deviceId,
            isPrimary: false,
            handle: payload.handle,
            identity,
            registrationId,
            primaryIdentityKey: payload.primaryIdentityKey,
            nextOneTimeId: INITIAL_ONE_TIME + 1,
            nextPqId: INITIAL_PQ + 2,
            keyIndex: 0,
          };
          await options.store.clear();
          await options.store.write([[K.device, encodeJson(state)], ...prekeyEntries(keys)]);
          const client = new TandemClient({ ...options, WebSocket }, state);
          client.wantConnected = true;
          client.attach(conn);
          await conn.request('linkComplete', {
            linkId: code.linkId,
            deviceIdentity: {
              details: payload.details,
              accountSignature: payload.accountSignature,
              deviceSignature,
            },
            signedPrekey: publicSigned(keys.signed),
            oneTimePrekeys: keys.oneTime.map(publicOneTime),
            pqPrekeys: keys.pq.map(publicPq),
            pqLastResortPrekey: publicPq(keys.lastResort),
          });
          client.reconnectAttempt = 0;
          client.markAuthenticated(conn);
          // `done` resolving is the "connected" moment of a freshly linked device: its listeners
          // are not attached yet, so no `connected` event is emitted here.
          return client;
        })().then(resolve, (err: unknown) => {
          conn.close();
          reject(err);
        });
      };
    });
    // Keep an unhandled rejection away when the caller only awaits `done` later.
    done.catch(() => undefined);
    return {
      qr,
      linkId: code.linkId,
      expiresAtMs: Number(code.expiresAtMs),
      done,
      cancel: async () => {
        if (conn.isOpen) await conn.request('linkCancel', { linkId: code.linkId }).catch(() => undefined);
        conn.close();
      },
    };
  }

  /** Opens a device already in the store (call `connect` next). */
  static async open(options: TandemOptions): Promise<TandemClient> {
    const raw = await options.store.get(K.device);
    if (!raw) throw new TandemError('NOT_REGISTERED', 'the store holds no device; register or link first');
    const WebSocket = options.WebSocket ?? (await defaultWebSocket());
    return new TandemClient({ ...options, WebSocket }, decodeJson<DeviceState>(raw));
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  /** Connects and authenticates; the backlog then arrives as `message` events, then `queue-empty`. */
  async connect(): Promise<void> {
    this.wantConnected = true;
    if (this.conn?.isOpen) return;
    const generation = this.generation;
    const conn = await Connection.open(this.options.url, {
      WebSocket: this.options.WebSocket,
      requestTimeoutMs: this.options.requestTimeoutMs,
    });
    if (generation !== this.generation) {
      // close() was called while the socket opened (e.g. during an automatic reconnect).
      conn.close(1000, 'client closed');
      return;
    }
    this.attach(conn);
    try {
      await this.authenticate(conn);
    } catch (err) {
      // Detach first: this close is ours, not a reason to reconnect.
      this.conn = undefined;
      conn.close();
      const code = err instanceof TandemError ? err.code : undefined;
      if (code === 'DEVICE_REVOKED' || code === 'AUTH_FAILED' || code === 'DEVICE_UNKNOWN') {
        // Retrying with these keys can never succeed.
        this.wantConnected = false;
        clearTimeout(this.reconnectTimer);
        this.wakeWaiters();
      }
      if (code === 'DEVICE_REVOKED') {
        // Unlinked while this device was offline: wipe it, as when the socket is closed with 4003.
        await this.options.store.clear();
        await this.emitAsync('unlinked', undefined);
      }
      throw err;
    }
  }

  /** Closes the connection and stops reconnecting. */
  async close(): Promise<void> {
    this.wantConnected = false;
    this.generation++;
    clearTimeout(this.reconnectTimer);
    for (const timer of this.laterTimers) clearTimeout(timer);
    this.laterTimers.clear();
    this.wakeWaiters();
    // Inbound work first: what it acknowledges while finishing is flushed with the rest.
    await this.inbound;
    await this.flushAcks();
    this.conn?.close(1000, 'client closed');
  }

  private attach(conn: Connection): void {
    this.conn = conn;
    conn.onPush = (frame) => this.onPush(frame);
    conn.onClose = (code, reason) => this.onClose(conn, code, reason);
  }

  private async authenticate(conn: Connection): Promise<void> {
    const timestampMs = this.now();
    const signature = signAuthChallenge(this.state.identity.secretKey, {
      realm: conn.challenge.realm,
      nonce: conn.challenge.nonce,
      timestampMs,
      accountId: this.state.accountId,
      deviceId: this.state.deviceId,
    });
    await conn.request('authenticate', {
      accountId: this.state.accountId,
      deviceId: this.state.deviceId,
      timestampMs: BigInt(timestampMs),
      signature,
    });
    this.reconnectAttempt = 0;
    this.markAuthenticated(conn);
    await this.emitAsync('connected', { accountId: this.state.accountId, deviceId: this.state.deviceId });
    // Messages decrypted before a crash or disconnect but not yet handed to the application.
    this.enqueue(() => this.replayPending());
    this.enqueue(() => this.topUpPrekeys().catch((error) => this.warn('prekey top-up failed', error)));
  }

  /** The connection may carry requests now: wake what waits in `ready()`. */
  private markAuthenticated(conn: Connection): void {
    this.authed = conn;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const wake of [...this.authWaiters]) wake();
  }

  /**
   * The authenticated connection. While a reconnect (or the first authenticate) is under way it
   * waits for it, up to the request timeout, instead of sending on a socket the gateway does not
   * yet serve (it would answer UNAUTHENTICATED). DISCONNECTED when not connecting at all.
   */
  private async ready(): Promise<Connection> {
    const waitMs = this.options.connectionWaitMs ?? this.options.requestTimeoutMs ?? 15_000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const conn = this.authed;
      if (conn && conn === this.conn && conn.isOpen) return conn;
      if (!this.wantConnected || (this.options.reconnect === false && !this.conn)) {
        throw new TandemError('DISCONNECTED', 'not connected; call connect() first');
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new TandemError('DISCONNECTED', `not connected to the server within ${waitMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.authWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.authWaiters.add(wake);
      });
    }
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.authed = undefined;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackBuffer = [];
    const policy = CLOSE_CODE_RECONNECT[code as CloseCode] ?? 'backoff';
    const willReconnect = this.wantConnected && this.options.reconnect !== false && policy !== 'never';
    void this.emitAsync('disconnected', { code, reason, willReconnect });
    if (code === CloseCode.DEVICE_REVOKED) {
      this.wantConnected = false;
      this.wakeWaiters();
      this.enqueue(async () => {
        await this.options.store.clear();
        await this.emitAsync('unlinked', undefined);
      });
      return;
    }
    if (code === CloseCode.DISPLACED) {
      this.wantConnected = false;
      this.wakeWaiters();
      void this.emitAsync('displaced', undefined);
      return;
    }
    if (willReconnect) this.scheduleReconnect(policy === 'reconnect');
    else this.wakeWaiters();
  }

  /** Reconnects after a jittered, exponentially growing delay; retries until it works or is told to stop. */
  private scheduleReconnect(promptly: boolean): void {
    const { min, max } = this.options.reconnectDelayMs ?? { min: 250, max: 15_000 };
    const base = Math.min(max, min * 2 ** this.reconnectAttempt++);
    const delay =
      promptly && this.reconnectAttempt === 1 ? Math.random() * min : base / 2 + (Math.random() * base) / 2;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.wantConnected) return;
      this.connect().catch((error) => {
        this.warn('reconnect failed', error);
        if (!this.conn && this.wantConnected) this.scheduleReconnect(false);
      });
    }, delay);
  }

  private onPush(frame: ServerFrame): void {
    switch (frame.body.case) {
      case 'deliver': {
        const d = frame.body.value;
        this.enqueue(() => this.handleDeliver(d));
        return;
      }
      case 'queueEmpty':
        this.enqueue(() => this.emitAsync('queue-empty', undefined));
        return;
      case 'prekeysLow':
        this.enqueue(() => this.topUpPrekeys().catch((error) => this.warn('prekey top-up failed', error)));
        return;
      case 'devicesChanged': {
        const accountId = frame.body.value.accountId;
        this.trustCache.delete(accountId);
        this.enqueue(async () => {
          try {
            await this.trustedDevices(accountId, true);
          } catch (error) {
            this.warn(`device list of ${accountId} did not verify`, error);
          }
          await this.emitAsync('devices-changed', { accountId });
        });
        return;
      }
      default:
        return;
    }
  }

  /**
   * Runs `task` alone among the read-encrypt/decrypt-write steps on stored sessions. Sends and
   * receives share the Double Ratchet sessions; two steps reading the same stored session would
   * both use one ratchet step (the receiver drops the second as a replay) or one would overwrite
   * the other's new state. The lock covers only local work (and a rare bundle fetch), never the
   * wait for the server to accept a send.
   */
  private withSessions<T>(task: () => Promise<T>): Promise<T> {
    const run = this.sessionLock.then(task);
    this.sessionLock = run.catch(() => undefined);
    return run;
  }

  /** Inbound work runs one item at a time, in arrival order. */
  private enqueue(task: () => Promise<void>): void {
    this.inbound = this.inbound.then(task).catch((error) => this.warn('inbound processing failed', error));
  }

  private warn(message: string, error?: unknown): void {
    void this.emitAsync('warning', { message, error });
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private async handleDeliver(d: Deliver, attempt = 0): Promise<void> {
    const store = this.options.store;
    if (await store.get(K.seen(d.serverId))) {
      this.ack(d.serverId);
      return;
    }
    if (d.content.case === 'receipt') {
      await this.handleReceipt(d.serverId, d.content.value);
      return;
    }
    if (d.content.case !== 'envelope' || !d.sender) return;
    const from = { accountId: d.sender.accountId, deviceId: d.sender.deviceId };
    const sender = await this.senderDevice(from);
    if (sender === 'retry') {
      // The sender's device list could not be fetched just now (the server is busy or away):
      // keep the copy unacknowledged and try again, never drop it as unverified.
      this.later(attempt, () => this.handleDeliver(d, attempt + 1));
      return;
    }
    if (!sender) {
      this.warn(`dropping a message from ${from.accountId}/${from.deviceId}: not a verified device`);
      await this.markSeen(d.serverId, []);
      return;
    }
    // The server accepts a (device, clientMessageId) pair once while the copy waits in the queue;
    // a retry that arrives after this device acknowledged it is stored again, with a new server
    // id. The application gets such a message once: the second copy is acknowledged unread.
    if (d.clientMessageId && (await store.get(K.seenMessage(from, d.clientMessageId)))) {
      await this.markSeen(d.serverId, []);
      return;
    }
    const ciphertext = d.content.value.ciphertext;
    const senderIdentityKey = sender.identityKey;
    const outcome = await this.withSessions(() =>
      this.decryptAndStore(d, from, senderIdentityKey, ciphertext),
    );
    if (outcome === 'undecryptable') {
      if (!(await this.requestRetry(d, from))) this.later(attempt, () => this.handleDeliver(d, attempt + 1));
    } else if (outcome) await this.handOver(outcome);
  }

  /**
   * The sender of a copy as its account's verified device list names it; undefined when the list
   * does not name it or does not verify; 'retry' when the list could not be fetched right now.
   */
  private async senderDevice(a: DeviceAddress): Promise<TrustedDevice | undefined | 'retry'> {
    for (const refresh of [false, true]) {
      try {
        const found = (await this.trustedDevices(a.accountId, refresh)).find(
          (d) => d.deviceId === a.deviceId,
        );
        if (found) return found;
      } catch (error) {
        if (isTransient(error)) {
          this.warn(`could not fetch the device list of ${a.accountId}; will try again`, error);
          return 'retry';
        }
        this.warn(`device list of ${a.accountId} did not verify`, error);
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * Runs inbound work again after a backoff (1 s, 2 s, … 30 s, jittered) while the same socket is
   * open. Its copy stays unacknowledged meanwhile, so after a reconnect it is delivered again anyway.
   */
  private later(attempt: number, task: () => Promise<void>): void {
    const conn = this.conn;
    const base = Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 5));
    const timer = setTimeout(
      () => {
        this.laterTimers.delete(timer);
        if (this.conn === conn && conn?.isOpen) this.enqueue(task);
      },
      base / 2 + (Math.random() * base) / 2,
    );
    this.laterTimers.add(timer);
  }

  /**
   * A receipt from the server. The application hears of each (message, device, kind) once; a
   * `delivered` for a copy the device asked for again is not final (the resend's receipt is),
   * and a resend's receipt is reported under the original message's id.
   */
  private async handleReceipt(serverId: string, r: Receipt): Promise<void> {
    const store = this.options.store;
    const device = { accountId: r.recipient!.accountId, deviceId: r.recipient!.deviceId };
    const kind = r.kind === ReceiptKind.EXPIRED ? 'expired' : 'delivered';
    if (await store.get(K.control(r.clientMessageId))) {
      await this.markSeen(serverId, []);
      return;
    }
    const resendRaw = await store.get(K.resend(r.clientMessageId));
    const resend = resendRaw ? decodeJson<ResendEntry>(resendRaw) : undefined;
    const clientMessageId = resend ? resend.original : r.clientMessageId;
    const retrying = K.retrying(clientMessageId, device);
    // The device acknowledged a copy it could not decrypt, after asking for it again (its retry
    // request is queued before the ack that makes this receipt, so it has been handled).
    const notFinal = resend ? resend.superseded === true : await store.get(retrying);
    if (kind === 'delivered' && notFinal) {
      await this.markSeen(serverId, []);
      return;
    }
    const writes: Array<[string, Uint8Array | undefined]> = [];
    if (resend && kind === 'delivered') writes.push([retrying, undefined]);
    await this.reportReceipt(clientMessageId, device, kind, Number(r.timestampMs), writes);
    await this.markSeen(serverId, writes);
  }

  /** Emits a receipt unless one of this (message, device, kind) was emitted; queues its mark in `writes`. */
  private async reportReceipt(
    clientMessageId: string,
    device: DeviceAddress,
    kind: ReceiptEvent['kind'],
    atMs: number,
    writes: Array<[string, Uint8Array | undefined]>,
  ): Promise<void> {
    // A message stored twice (a retry after the first copy had left the queue) yields two
    // receipts for one device: the application hears of each (message, device, kind) once.
    const once = K.seenReceipt(clientMessageId, device, kind);
    if (await this.options.store.get(once)) return;
    await this.emitAsync('receipt', { kind, clientMessageId, device, atMs });
    writes.push([once, encodeJson(this.now())]);
  }

  /**
   * Decrypts a copy with the stored sessions and saves the new session record together with what
   * it decrypted (or, when there is nothing to hand over, marks the copy seen). Under the session
   * lock. 'undecryptable' when no session opens it: the caller asks the sender to send it again.
   */
  private async decryptAndStore(
    d: Deliver,
    from: DeviceAddress,
    senderIdentityKey: Uint8Array,
    ciphertext: Uint8Array,
  ): Promise<Pending | 'undecryptable' | undefined> {
    const store = this.options.store;
    const record = await this.loadRecord(from);
    let decrypted: ReturnType<typeof decryptWithRecord>;
    try {
      const prekeys = await this.loadPrekeysFor(ciphertext);
      decrypted = decryptWithRecord(ciphertext, {
        identity: this.state.identity,
        senderIdentityKey,
        record,
        prekeys,
      });
    } catch (error) {
      // A duplicate or replayed envelope is dropped silently; anything else is asked for again.
      if (isCryptoError(error, 'DUPLICATE_MESSAGE')) {
        await this.markSeen(d.serverId, []);
        return undefined;
      }
      this.warn(
        `cannot decrypt a message from ${from.accountId}/${from.deviceId}; asking for it again`,
        error,
      );
      return 'undecryptable';
    }
    let nextRecord = decrypted.record;
    const used = decrypted.usedPrekeys;
    const writes: Array<[string, Uint8Array | undefined]> = [];
    if (used?.oneTimePrekeyId !== undefined) writes.push([K.oneTime(used.oneTimePrekeyId), undefined]);
    if (used && !used.pqLastResort && used.pqPrekeyId !== undefined)
      writes.push([K.pq(used.pqPrekeyId), undefined]);
    let pending: Pending | undefined;
    let appId = d.clientMessageId;
    try {
      const content = decodeContent(decrypted.plaintext);
      if (content.resendOf) appId = content.resendOf;
      // A retry request comes under a session its sender has just started for the resend.
      if (content.body.case === 'retryRequest') nextRecord = promoteSession(nextRecord, decrypted.session);
      pending = this.toPending(d, from, content);
    } catch (error) {
      this.warn(`undecodable content from ${from.accountId}/${from.deviceId}`, error);
    }
    writes.push([K.session(from), serializeSessionRecord(nextRecord)]);
    // A resend of a message that did arrive (its first copy was decrypted after all): shown once.
    const shownBefore = appId !== d.clientMessageId && (await store.get(K.seenMessage(from, appId)));
    if (!pending || shownBefore) {
      await this.markSeen(d.serverId, writes);
      return undefined;
    }
    // The session step and what it decrypted are saved together, before the copy is acknowledged.
    writes.push([K.pending(d.serverId), encodeJson(pending)]);
    if (appId) writes.push([K.seenMessage(from, appId), encodeJson(this.now())]);
    await store.write(writes);
    return pending;
  }

  /**
   * A copy that no held session decrypts is never acknowledged unread: this device starts a new
   * session with the sending device and sends it a RetryRequest under it (single-device send),
   * and only then acknowledges the copy. The sender sends the message again under the new
   * session, with a server-level id `rs<n>-…` that tells this device it is the n-th resend; at
   * MAX_RETRY_ATTEMPTS the request says `final` and the application is told.
   */
  private async requestRetry(d: Deliver, from: DeviceAddress): Promise<boolean> {
    const clientMessageId = d.clientMessageId;
    const resent = RESEND_ID.exec(clientMessageId);
    const attempt = Math.min(MAX_RETRY_ATTEMPTS, resent ? Number(resent[1]) + 1 : 1);
    let final = attempt >= MAX_RETRY_ATTEMPTS;
    if (clientMessageId) {
      const controlId = randomId();
      try {
        await this.options.store.write([[K.control(controlId), encodeJson(this.now())]]);
        await this.sendToDevice(
          from,
          { body: { case: 'retryRequest', value: { clientMessageId, attempt, final } } },
          controlId,
          true,
        );
      } catch (error) {
        if (!(error instanceof TandemError && error.code === 'MISMATCHED_DEVICES')) {
          // Not acknowledged: asked for again later (or after a reconnect, when the copy comes again).
          this.warn(`could not ask ${from.accountId}/${from.deviceId} to send a message again`, error);
          return false;
        }
        final = true; // the sending device is gone: nobody can send it again
      }
    } else final = true;
    await this.markSeen(d.serverId, []);
    if (final) await this.emitAsync('undecryptable', { from, clientMessageId });
    return true;
  }

  private toPending(
    d: Deliver,
    from: DeviceAddress,
    content: ReturnType<typeof decodeContent>,
  ): Pending | undefined {
    const base = {
      serverId: d.serverId,
      from,
      // A resend (after a retry request) travels under a new id; the application sees the original.
      clientMessageId: content.resendOf || d.clientMessageId,
      serverTimestampMs: Number(d.serverTimestampMs),
    };
    switch (content.body.case) {
      case 'data': {
        const m = content.body.value;
        return {
          serverId: d.serverId,
          kind: 'message',
          message: { ...base, text: m.text, data: m.data, sentAtMs: Number(m.sentAtMs) },
        };
      }
      case 'sent': {
        if (from.accountId !== this.state.accountId) return undefined; // only our own devices may sync
        const t = content.body.value;
        const m = t.message!;
        return {
          serverId: d.serverId,
          kind: 'message',
          message: {
            ...base,
            clientMessageId: t.clientMessageId,
            text: m.text,
            data: m.data,
            sentAtMs: Number(m.sentAtMs),
            sentTo: t.destinationAccountId,
          },
        };
      }
      case 'retryRequest': {
        const r = content.body.value;
        return {
          serverId: d.serverId,
          kind: 'retry',
          retry: { from, clientMessageId: r.clientMessageId, attempt: r.attempt, final: r.final },
        };
      }
      case 'historyKey': {
        const h = content.body.value;
        const fromPrimary = from.accountId === this.state.accountId && from.deviceId === 1;
        if (!fromPrimary || h.recipientDeviceId !== this.state.deviceId) return undefined;
        return {
          serverId: d.serverId,
          kind: 'history',
          history: { from, blobId: h.blobId, key: h.key, sha256: h.sha256, totalChunks: h.totalChunks },
        };
      }
      default:
        return undefined;
    }
  }

  /** Hands a decrypted item to the application, then marks it seen and acknowledges it. */
  private async handOver(p: Pending, attempt = 0): Promise<void> {
    if (p.kind === 'message' && p.message) {
      await this.emitAsync('message', p.message);
    } else if (p.kind === 'retry' && p.retry) {
      try {
        await this.answerRetry(p.retry);
      } catch (error) {
        // Not acknowledged (kept as pending): answered later, or replayed after a reconnect.
        this.warn('could not send a message again', error);
        this.later(attempt, () => this.handOver(p, attempt + 1));
        return;
      }
    } else if (p.kind === 'history' && p.history) {
      try {
        const data = await this.fetchHistory(p.history);
        await this.emitAsync('history', { data, from: p.history.from });
      } catch (error) {
        this.warn('history sync failed', error);
      }
    }
    await this.markSeen(p.serverId, [[K.pending(p.serverId), undefined]]);
  }

  private async replayPending(): Promise<void> {
    const store = this.options.store;
    for (const key of await store.list('pending/')) {
      const raw = await store.get(key);
      if (raw) await this.handOver(decodeJson<Pending>(raw));
    }
    // Expired bookkeeping (`seen/…`) is swept at most once a day, not on every connect, and in
    // chunks queued behind inbound work: a device that has received a million messages connects
    // as fast as a new one.
    const now = this.now();
    const swept = await store.get(K.seenSweptAt);
    if (swept && now - decodeJson<number>(swept) < SEEN_SWEEP_INTERVAL_MS) return;
    await store.write([[K.seenSweptAt, encodeJson(now)]]);
    const keys = await store.list('seen/');
    for (let i = 0; i < keys.length; i += SEEN_SWEEP_CHUNK) {
      const chunk = keys.slice(i, i + SEEN_SWEEP_CHUNK);
      this.enqueue(() => this.sweepSeen(chunk, now));
    }
  }

  private async sweepSeen(keys: readonly string[], now: number): Promise<void> {
    const store = this.options.store;
    const stale: Array<[string, undefined]> = [];
    for (const key of keys) {
      const raw = await store.get(key);
      if (!raw) continue;
      const value = decodeJson<number | { atMs: number }>(raw);
      const atMs = typeof value === 'number' ? value : value.atMs;
      if (now - atMs > SEEN_TTL_MS) stale.push([key, undefined]);
    }
    if (stale.length) await store.write(stale);
  }

  private async markSeen(serverId: string, writes: Array<[string, Uint8Array | undefined]>): Promise<void> {
    await this.options.store.write([...writes, [K.seen(serverId), encodeJson(this.now())]]);
    this.ack(serverId);
  }

  private ack(serverId: string): void {
    this.ackBuffer.push(serverId);
    if (this.ackBuffer.length >= ACK_BATCH) {
      void this.flushAcks();
      return;
    }
    if (!this.ackTimer) this.ackTimer = setTimeout(() => void this.flushAcks(), 5);
  }

  /** Sends the buffered acks; flushes run one after another, and never reject. */
  private flushAcks(): Promise<void> {
    this.ackFlush = this.ackFlush.then(() => this.flushAcksNow());
    return this.ackFlush;
  }

  private async flushAcksNow(): Promise<void> {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    while (this.ackBuffer.length) {
      const conn = this.conn;
      // Unacknowledged copies are delivered again after reconnecting, and acknowledged then.
      if (!conn?.isOpen) return;
      const batch = [...new Set(this.ackBuffer.splice(0, ACK_BATCH))];
      try {
        await conn.request('ack', { serverIds: batch });
      } catch (error) {
        // Closed meanwhile: the copies come again after reconnecting and are acknowledged then.
        if (this.conn !== conn || !conn.isOpen) return;
        // The server will not deliver these copies again on this connection, so an ack that
        // was lost must be sent again, or the copies would expire and their senders be told so.
        // Acknowledging is idempotent.
        this.ackBuffer.unshift(...batch);
        const wait = error instanceof TandemError ? (error.extra.retryAfterMs ?? 1_000) : 1_000;
        this.warn(`ack failed; retrying in ${wait} ms`, error);
        if (this.wantConnected && !this.ackTimer) {
          this.ackTimer = setTimeout(() => void this.flushAcks(), Math.min(wait, 10_000));
        }
        return;
      }
    }
  }

  private async loadPrekeysFor(envelope: Uint8Array) {
    const info = readEnvelope(envelope);
    const header = info.prekeyHeader;
    const store = this.options.store;
    const signed = header ? await store.get(K.signed(header.signedPrekeyId)) : undefined;
    const oneTime =
      header?.oneTimePrekeyId !== undefined ? await store.get(K.oneTime(header.oneTimePrekeyId)) : undefined;
    const pq = header ? await store.get(K.pq(header.pqPrekeyId)) : undefined;
    return {
      signedPrekey: (id: number) =>
        signed && header?.signedPrekeyId === id ? decodeJson<SignedPrekey>(signed) : undefined,
      oneTimePrekey: (id: number) =>
        oneTime && header?.oneTimePrekeyId === id ? decodeJson<OneTimePrekey>(oneTime) : undefined,
      pqPrekey: (id: number) => (pq && header?.pqPrekeyId === id ? decodeJson<PqPrekey>(pq) : undefined),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Looks up an account id by handle. */
  async lookup(handle: string): Promise<string> {
    return (await (await this.ready()).request('accountLookup', { handle })).accountId;
  }

  /**
   * Sends a message to every device of `to` (an account id) and a sync copy to this account's
   * other devices. Refreshes device lists and retries when the server reports mismatched or
   * stale devices; when the server does not answer in time (or is briefly unavailable), sends the
   * very same request again, which the server accepts at most once. Resolves once every copy is
   * durably queued.
   *
   * If it still rejects, the message may or may not have been accepted. To try again without
   * risking a second copy, call `send` again with `{ clientMessageId: error.extra.clientMessageId }`:
   * the server accepts a (device, clientMessageId) pair once.
   */
  async send(
    to: string,
    message: { text?: string; data?: Uint8Array },
    options: { clientMessageId?: string } = {},
  ): Promise<SendResult> {
    const clientMessageId = options.clientMessageId ?? randomId();
    if (!CLIENT_MESSAGE_ID.test(clientMessageId)) {
      throw new TandemError('INVALID_ARGUMENT', 'clientMessageId must be 1..64 characters of [A-Za-z0-9_-]');
    }
    const sentAtMs = BigInt(this.now());
    const data = { text: message.text ?? '', data: message.data ?? new Uint8Array(), sentAtMs };
    try {
      return await this.sendContents(
        to,
        clientMessageId,
        { body: { case: 'data', value: data } },
        { body: { case: 'sent', value: { destinationAccountId: to, clientMessageId, message: data } } },
      );
    } catch (error) {
      // Whatever failed (not connected, a device-list fetch, the send itself), the id goes with it.
      throw error instanceof TandemError
        ? new TandemError(error.code, error.message, { ...error.extra, clientMessageId })
        : error;
    }
  }

  private async sendContents(
    to: string,
    clientMessageId: string,
    forRecipient: MessageInitShape<typeof ContentSchema>,
    forOwnDevices: MessageInitShape<typeof ContentSchema> | undefined,
  ): Promise<SendResult> {
    const conn = await this.ready();
    const self = { accountId: this.state.accountId, deviceId: this.state.deviceId };
    const recipientPlain = encodeContent(create(ContentSchema, forRecipient));
    const ownPlain = forOwnDevices ? encodeContent(create(ContentSchema, forOwnDevices)) : recipientPlain;
    let refresh = false;
    for (let attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
      const recipients = (await this.trustedDevices(to, refresh)).filter(
        (d) => !(to === self.accountId && d.deviceId === self.deviceId),
      );
      const own =
        to === self.accountId
          ? []
          : (await this.trustedDevices(self.accountId, refresh)).filter((d) => d.deviceId !== self.deviceId);
      if (recipients.length === 0 && own.length === 0) {
        throw new TandemError('INVALID_ARGUMENT', 'no device to send to');
      }
      const sender = { identity: this.state.identity, registrationId: this.state.registrationId };
      const envelopes = await this.withSessions(async () => {
        const targets = [
          ...(await this.recipientsFor(to, recipients)).map((r) => ({ ...r, plain: recipientPlain })),
          ...(await this.recipientsFor(self.accountId, own)).map((r) => ({ ...r, plain: ownPlain })),
        ];
        const sealed = targets.map(({ device, record, plain }) => ({
          e: encryptForDevices(sender, plain, [device])[0]!,
          record,
        }));
        // Persist every session step, and what is sent (to send it again if a device asks),
        // before the copies leave the device.
        const log: SendLogEntry = {
          atMs: this.now(),
          to,
          forRecipient: recipientPlain,
          forOwnDevices: ownPlain,
        };
        await this.options.store.write([
          ...sealed.map(
            ({ e, record }) =>
              [K.session(e), serializeSessionRecord(promoteSession(record, e.session))] as [
                string,
                Uint8Array,
              ],
          ),
          [K.sendLog(clientMessageId), encodeJson(log)],
        ]);
        return sealed.map(({ e }) => e);
      });
      const registration = new Map(
        [...recipients.map((d) => [`${to}/${d.deviceId}`, d.registrationId] as const)].concat(
          own.map((d) => [`${self.accountId}/${d.deviceId}`, d.registrationId] as const),
        ),
      );
      const result = await this.sendIdempotent(conn, {
        clientMessageId,
        recipientAccountId: to,
        copies: envelopes.map((e) => ({
          address: { accountId: e.accountId, deviceId: e.deviceId },
          registrationId: registration.get(`${e.accountId}/${e.deviceId}`) ?? 1,
          type: e.type === 1 ? EnvelopeType.PREKEY_MESSAGE : EnvelopeType.MESSAGE,
          ciphertext: e.envelope,
        })),
      });
      switch (result.result.case) {
        case 'accepted':
          return {
            clientMessageId,
            serverTimestampMs: Number(result.result.value.serverTimestampMs),
            copies: result.result.value.copies.map((c) => ({
              accountId: c.address!.accountId,
              deviceId: c.address!.deviceId,
              serverId: c.serverId,
            })),
          };
        case 'mismatchedDevices':
        case 'staleDevices': {
          const v = result.result.value;
          const gone = 'extra' in v ? v.extra : v.stale;
          await this.withSessions(() =>
            this.options.store.write(gone.map((a) => [K.session(a), undefined] as [string, undefined])),
          );
          refresh = true;
          continue;
        }
        default:
          throw new TandemError('BAD_FRAME', 'empty send result');
      }
    }
    throw new TandemError('MISMATCHED_DEVICES', `the device set of ${to} kept changing; gave up`);
  }

  /**
   * One `send` request, repeated unchanged (same clientMessageId, same ciphertexts) when the
   * outcome is unknown — no answer in time, or the server briefly unavailable — up to
   * SEND_RETRIES times on the same open connection. Accepting is idempotent on (device,
   * clientMessageId), so a repeat of a request that was in fact stored returns the same server
   * ids instead of queuing a second copy. (`send` adds the clientMessageId to a failure that
   * remains, so the application can retry the same way.)
   */
  private async sendIdempotent(conn: Connection, request: Body<'send'>): Promise<Reply<'send'>> {
    for (let retry = 0; ; retry++) {
      try {
        return await conn.request('send', request);
      } catch (error) {
        const unknownOutcome =
          error instanceof TandemError && (UNKNOWN_OUTCOME as readonly string[]).includes(error.code);
        if (!unknownOutcome || retry >= SEND_RETRIES || !conn.isOpen) throw error;
        const wait = Math.min(error.extra.retryAfterMs ?? 250 * 2 ** retry, 5_000);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Every session held with a device (an empty record when none). */
  private async loadRecord(a: DeviceAddress): Promise<SessionRecord> {
    const raw = await this.options.store.get(K.session(a));
    return raw ? deserializeSessionRecord(raw) : EMPTY_SESSION_RECORD;
  }

  /**
   * What to encrypt to each device under: the current session of its record, or (when it has
   * none that can send, or `fresh`) a verified prekey bundle for a new one.
   */
  private async recipientsFor(
    accountId: string,
    devices: TrustedDevice[],
    fresh = false,
  ): Promise<Array<{ device: RecipientDevice; record: SessionRecord }>> {
    const out: Array<{ device: RecipientDevice; record: SessionRecord }> = [];
    const missing: Array<{ d: TrustedDevice; record: SessionRecord }> = [];
    for (const d of devices) {
      let record = await this.loadRecord({ accountId, deviceId: d.deviceId });
      const session: SessionState | undefined = record.current;
      if (session && !equalBytes(session.remoteIdentityKey, d.identityKey)) record = EMPTY_SESSION_RECORD;
      else if (session && session.sendingChainKey !== null && !fresh) {
        out.push({
          device: { accountId, deviceId: d.deviceId, identityKey: d.identityKey, session },
          record,
        });
        continue;
      }
      missing.push({ d, record });
    }
    if (missing.length) {
      const res = await (await this.ready()).request('bundleFetch', {
        accountId,
        deviceIds: missing.map(({ d }) => d.deviceId),
      });
      for (const { d, record } of missing) {
        const b = res.bundles.find((x) => x.deviceId === d.deviceId);
        if (!b)
          throw new TandemError('MISMATCHED_DEVICES', `no prekey bundle for ${accountId}/${d.deviceId}`);
        const bundle = toCryptoBundle(b);
        if (!equalBytes(bundle.identityKey, d.identityKey)) {
          throw new TandemError(
            'UNTRUSTED_DEVICES',
            `bundle of ${accountId}/${d.deviceId} has another identity key`,
          );
        }
        try {
          verifyPrekeyBundle(bundle);
        } catch (cause) {
          throw new TandemError('UNTRUSTED_DEVICES', `bundle of ${accountId}/${d.deviceId} does not verify`, {
            cause,
          });
        }
        out.push({ device: { accountId, deviceId: d.deviceId, identityKey: d.identityKey, bundle }, record });
      }
    }
    return out;
  }

  /**
   * Sends `content` to one device only (Send.single_device): a retry request (`fresh`: under a
   * new session from the device's bundle) or a resend. `clientMessageId` is the server-level id.
   * MISMATCHED_DEVICES when the device is no longer one of its account's.
   */
  private async sendToDevice(
    target: DeviceAddress,
    content: MessageInitShape<typeof ContentSchema>,
    clientMessageId: string,
    fresh: boolean,
  ): Promise<void> {
    const plain = encodeContent(create(ContentSchema, content));
    const sender = { identity: this.state.identity, registrationId: this.state.registrationId };
    for (let attempt = 0; attempt < 2; attempt++) {
      const conn = await this.ready();
      const device = (await this.trustedDevices(target.accountId, attempt > 0)).find(
        (d) => d.deviceId === target.deviceId,
      );
      if (!device) {
        throw new TandemError(
          'MISMATCHED_DEVICES',
          `${target.accountId}/${target.deviceId} is not a current device`,
        );
      }
      const envelope = await this.withSessions(async () => {
        const [one] = await this.recipientsFor(target.accountId, [device], fresh);
        const e = encryptForDevices(sender, plain, [one!.device])[0]!;
        await this.options.store.write([
          [K.session(e), serializeSessionRecord(promoteSession(one!.record, e.session))],
        ]);
        return e;
      });
      const result = await this.sendIdempotent(conn, {
        clientMessageId,
        recipientAccountId: target.accountId,
        singleDevice: true,
        copies: [
          {
            address: target,
            registrationId: device.registrationId,
            type: envelope.type === 1 ? EnvelopeType.PREKEY_MESSAGE : EnvelopeType.MESSAGE,
            ciphertext: envelope.envelope,
          },
        ],
      });
      if (result.result.case === 'accepted') return;
      if (result.result.case === 'mismatchedDevices') {
        throw new TandemError(
          'MISMATCHED_DEVICES',
          `${target.accountId}/${target.deviceId} is not a current device`,
        );
      }
      // Stale registration id: the device was re-registered; refresh its list and start afresh.
      await this.withSessions(() => this.options.store.write([[K.session(target), undefined]]));
      fresh = true;
    }
    throw new TandemError(
      'MISMATCHED_DEVICES',
      `${target.accountId}/${target.deviceId} kept changing; gave up`,
    );
  }

  /**
   * A device that could not decrypt a message of ours asks for it again: send it once more to that
   * device alone, under the session its request came in (which it has just started), with
   * `resend_of` naming the original so the device shows it once — or, past MAX_RETRY_ATTEMPTS or
   * when it gives up, report a `failed` receipt for that device.
   */
  private async answerRetry(r: NonNullable<Pending['retry']>): Promise<void> {
    const store = this.options.store;
    const resendRaw = await store.get(K.resend(r.clientMessageId));
    const asked = resendRaw ? decodeJson<ResendEntry>(resendRaw) : undefined;
    const original = asked ? asked.original : r.clientMessageId;
    if (await store.get(K.control(original))) return; // our own retry request: nothing to resend
    const logRaw = await store.get(K.sendLog(original));
    const log = logRaw ? decodeJson<SendLogEntry>(logRaw) : undefined;
    const own = r.from.accountId === this.state.accountId;
    if (log && !own && r.from.accountId !== log.to) {
      this.warn(`${r.from.accountId}/${r.from.deviceId} asked for a message it was not sent`);
      return;
    }
    const retrying = K.retrying(original, r.from);
    // Resends so far to this device, counted here too: a device cannot make this one resend forever.
    const markRaw = await store.get(retrying);
    const resends = markRaw ? decodeJson<{ atMs: number; resends: number }>(markRaw).resends : 0;
    const attempt = resends + 1;
    const supersede: Array<[string, Uint8Array]> = asked
      ? [[K.resend(r.clientMessageId), encodeJson({ ...asked, superseded: true })]]
      : [];
    if (!log || r.final || attempt >= MAX_RETRY_ATTEMPTS) {
      const writes: Array<[string, Uint8Array | undefined]> = [[retrying, undefined], ...supersede];
      await this.reportReceipt(original, r.from, 'failed', this.now(), writes);
      await store.write(writes);
      return;
    }
    const content = decodeContent(own ? log.forOwnDevices : log.forRecipient);
    content.resendOf = original;
    const resendId = `rs${attempt}-${randomId(12)}`;
    const entry: ResendEntry = { atMs: this.now(), original, device: r.from };
    await store.write([
      [retrying, encodeJson({ atMs: this.now(), resends: attempt })],
      [K.resend(resendId), encodeJson(entry)],
      ...supersede,
    ]);
    await this.sendToDevice(r.from, content, resendId, false);
  }

  // -------------------------------------------------------------------------------------------
  // Devices and trust

  /** The account's devices, verified against its primary's signatures. */
  async devices(accountId = this.state.accountId): Promise<TrustedDevice[]> {
    return this.trustedDevices(accountId, true);
  }

  /** The 60-digit safety number between this account and `accountId` (compare it out of band). */
  async safetyNumber(accountId: string): Promise<string> {
    const mine = await this.trustedDevices(this.state.accountId, false);
    const theirs = await this.trustedDevices(accountId, false);
    return safetyNumber(
      { accountId: this.state.accountId, identityKeys: mine.map((d) => d.identityKey) },
      { accountId, identityKeys: theirs.map((d) => d.identityKey) },
    );
  }

  private async trustedDevices(accountId: string, refresh: boolean): Promise<TrustedDevice[]> {
    return (await this.trustRecord(accountId, refresh)).devices;
  }

  private async trustRecord(accountId: string, refresh: boolean): Promise<TrustRecord> {
    const cached = this.trustCache.get(accountId);
    if (cached && !refresh) return cached;
    const list = await (await this.ready()).request('deviceListFetch', { accountId });
    const verified = verifyServedList(list);
    const raw = await this.options.store.get(K.trust(accountId));
    const pinned = raw ? decodeJson<TrustRecord>(raw) : undefined;
    const own = accountId === this.state.accountId;
    if (own && !equalBytes(verified.primaryIdentityKey, this.state.primaryIdentityKey)) {
      throw new TandemError(
        'UNTRUSTED_DEVICES',
        "the server presents another primary key for this device's account",
      );
    }
    if (pinned && verified.listIndex < pinned.listIndex) {
      throw new TandemError('UNTRUSTED_DEVICES', `device list of ${accountId} rolled back`);
    }
    await this.options.store.write([[K.trust(accountId), encodeJson(verified)]]);
    this.trustCache.set(accountId, verified);
    if (pinned && !own && keysOf(pinned) !== keysOf(verified)) {
      void this.emitAsync('security-code-changed', { accountId });
    }
    return verified;
  }

  // -------------------------------------------------------------------------------------------
  // Linking, unlinking, history (primary)

  /** Primary: approves the companion that shows `qr`. Resolves with its device id. */
  async approveLink(qr: string): Promise<{ deviceId: number }> {
    this.requirePrimary();
    const offer = decodeQrPayload(qr.trim());
    const current = await this.trustRecord(this.state.accountId, true);
    const linkedCount = current.devices.length - 1;
    if (linkedCount >= MAX_COMPANIONS) {
      // The signed device list cannot name a sixth device: refuse here, and end the companion's
      // wait instead of leaving it to expire.
      await (await this.ready()).request('linkCancel', { linkId: offer.linkId }).catch(() => undefined);
      throw new TandemError('DEVICE_LIMIT', `${linkedCount} companions are linked, the most allowed`, {
        linkedCount,
      });
    }
    const deviceId = current.nextDeviceId;
    const now = this.now();
    const details = encodeDeviceIdentityDetails({
      accountId: this.state.accountId,
      deviceId,
      identityKey: offer.identityPublicKey,
      linkedAtMs: now,
      keyIndex: this.state.keyIndex + 1,
    });
    const accountSignature = signCompanion(this.state.identity.secretKey, details);
    const signed = signDeviceList(this.state.identity.secretKey, {
      accountId: this.state.accountId,
      timestampMs: now,
      listIndex: current.listIndex + 1,
      devices: [
        ...current.devices.map((d) => ({ deviceId: d.deviceId, identityKey: d.identityKey })),
        { deviceId, identityKey: offer.identityPublicKey },
      ],
    });
    const sealed = sealLinkingPayload({
      linkId: offer.linkId,
      companionEphemeralPublic: offer.ephemeralPublicKey,
      companionIdentityPublic: offer.identityPublicKey,
      secret: offer.secret,
      payload: encodeLinkingPayload(
        create(LinkingPayloadSchema, {
          accountId: this.state.accountId,
          deviceId,
          primaryIdentityKey: this.state.identity.publicKey,
          details,
          accountSignature,
          handle: this.state.handle,
        }),
      ),
    });
    const approved = await (await this.ready()).request('linkApprove', {
      linkId: offer.linkId,
      companionIdentityKey: offer.identityPublicKey,
      deviceIdentity: { details, accountSignature, deviceSignature: new Uint8Array() },
      signedList: { list: signed.listBytes, signature: signed.signature },
      sealedPayload: sealed,
      deviceId,
    });
    this.state = { ...this.state, keyIndex: this.state.keyIndex + 1 };
    await this.options.store.write([[K.device, encodeJson(this.state)]]);
    this.trustCache.delete(this.state.accountId);
    return { deviceId: approved.deviceId };
  }

  /**
   * Unlinks a companion (primary) or this device itself (companion; omit the id). Unlinking
   * itself wipes the store.
   */
  async unlink(deviceId: number = this.state.deviceId): Promise<void> {
    const conn = await this.ready();
    if (!this.state.isPrimary) {
      if (deviceId !== this.state.deviceId)
        throw new TandemError('NOT_PRIMARY', 'a companion can unlink only itself');
      await conn.request('unlink', { deviceId });
      this.wantConnected = false;
      conn.close(1000, 'unlinked');
      await this.options.store.clear();
      await this.emitAsync('unlinked', undefined);
      return;
    }
    const current = await this.trustRecord(this.state.accountId, true);
    const signed = signDeviceList(this.state.identity.secretKey, {
      accountId: this.state.accountId,
      timestampMs: this.now(),
      listIndex: current.listIndex + 1,
      devices: current.devices
        .filter((d) => d.deviceId !== deviceId)
        .map((d) => ({ deviceId: d.deviceId, identityKey: d.identityKey })),
    });
    await conn.request('unlink', {
      deviceId,
      signedList: { list: signed.listBytes, signature: signed.signature },
    });
    await this.withSessions(() =>
      this.options.store.write([[K.session({ accountId: this.state.accountId, deviceId }), undefined]]),
    );
    this.trustCache.delete(this.state.accountId);
  }

  /**
   * Primary: encrypts `data` as a history bundle, uploads the ciphertext as a short-lived blob
   * for `companionDeviceId`, and sends the key and hash to it in an ordinary E2EE message.
   */
  async sendHistory(companionDeviceId: number, data: Uint8Array): Promise<{ blobId: string }> {
    this.requirePrimary();
    const bundle = await encryptHistoryBundle(data);
    const blob = concat(bundle.chunks);
    const totalChunks = Math.max(1, Math.ceil(blob.length / MAX_HISTORY_CHUNK_BYTES));
    let blobId = '';
    for (let i = 0; i < totalChunks; i++) {
      const res = await (await this.ready()).request('historyUpload', {
        blobId,
        recipientDeviceId: companionDeviceId,
        chunkIndex: i,
        totalChunks,
        totalSize: BigInt(blob.length),
        data: blob.subarray(i * MAX_HISTORY_CHUNK_BYTES, (i + 1) * MAX_HISTORY_CHUNK_BYTES),
      });
      blobId = res.blobId;
    }
    const historyKey = {
      recipientDeviceId: companionDeviceId,
      blobId,
      key: bundle.key,
      sha256: bundle.sha256,
      size: BigInt(blob.length),
      totalChunks,
    };
    await this.sendContents(
      this.state.accountId,
      randomId(),
      { body: { case: 'historyKey', value: historyKey } },
      undefined,
    );
    return { blobId };
  }

  private async fetchHistory(h: NonNullable<Pending['history']>): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < h.totalChunks; i++) {
      const chunk = await (await this.ready()).request('historyFetch', { blobId: h.blobId, chunkIndex: i });
      parts.push(chunk.data);
    }
    return decryptHistoryBundle(h.key, [concat(parts)], h.sha256);
  }

  private requirePrimary(): void {
    if (!this.state.isPrimary) throw new TandemError('NOT_PRIMARY', 'only the primary device can do this');
  }

  // -------------------------------------------------------------------------------------------
  // Prekeys

  /** Uploads fresh one-time prekeys when the server holds fewer than the low watermark. */
  async topUpPrekeys(): Promise<void> {
    const conn = await this.ready();
    const { counts } = await conn.request('prekeyCount', {});
    const oneTime = counts?.oneTime ?? 0;
    const pqOneTime = counts?.pqOneTime ?? 0;
    if (oneTime >= LOW_WATERMARK && pqOneTime >= LOW_WATERMARK / 4) return;
    const ot = generateOneTimePrekeys(
      this.state.nextOneTimeId,
      Math.min(MAX_ONE_TIME_PREKEYS_PER_UPLOAD, INITIAL_ONE_TIME),
    );
    const pq = generatePqPrekeys(this.state.identity.secretKey, this.state.nextPqId, INITIAL_PQ);
    this.state = {
      ...this.state,
      nextOneTimeId: this.state.nextOneTimeId + ot.length,
      nextPqId: this.state.nextPqId + pq.length,
    };
    // Secrets first: a prekey the server hands out must always be in the store.
    await this.options.store.write([
      [K.device, encodeJson(this.state)],
      ...ot.map((k) => [K.oneTime(k.id), encodeJson(k)] as [string, Uint8Array]),
      ...pq.map((k) => [K.pq(k.id), encodeJson(k)] as [string, Uint8Array]),
    ]);
    await conn.request('prekeyUpload', {
      oneTimePrekeys: ot.map(publicOneTime),
      pqPrekeys: pq.map(publicPq),
    });
  }
}

export interface LinkSession {
  /** What the companion shows as a QR code (and as text for copy-paste). */
  qr: string;
  linkId: string;
  expiresAtMs: number;
  /** Resolves with the linked, connected device; rejects on expiry, cancellation or the device limit. */
  done: Promise<TandemClient>;
  cancel(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface InitialPrekeys {
  signed: SignedPrekey;
  oneTime: OneTimePrekey[];
  pq: PqPrekey[];
  lastResort: PqPrekey;
}

function generateInitialPrekeys(identity: IdentityKeyPair): InitialPrekeys {
  return {
    signed: generateSignedPrekey(identity.secretKey, 1),
    oneTime: generateOneTimePrekeys(1, INITIAL_ONE_TIME),
    pq: generatePqPrekeys(identity.secretKey, 1, INITIAL_PQ),
    lastResort: generateLastResortPqPrekey(identity.secretKey, INITIAL_PQ + 1),
  };
}

function prekeyEntries(keys: InitialPrekeys): Array<[string, Uint8Array]> {
  return [
    [K.signed(keys.signed.id), encodeJson(keys.signed)],
    ...keys.oneTime.map((k) => [K.oneTime(k.id), encodeJson(k)] as [string, Uint8Array]),
    ...keys.pq.map((k) => [K.pq(k.id), encodeJson(k)] as [string, Uint8Array]),
    [K.pq(keys.lastResort.id), encodeJson(keys.lastResort)],
  ];
}

const publicSigned = (k: SignedPrekey) => ({ id: k.id, publicKey: k.publicKey, signature: k.signature });
const publicOneTime = (k: OneTimePrekey) => ({ id: k.id, publicKey: k.publicKey });
const publicPq = (k: PqPrekey) => ({ id: k.id, publicKey: k.publicKey, signature: k.signature });

function toCryptoBundle(b: DeviceBundle): PrekeyBundle {
  return {
    identityKey: b.identityKey,
    registrationId: b.registrationId,
    deviceId: b.deviceId,
    signedPrekey: {
      id: b.signedPrekey!.id,
      publicKey: b.signedPrekey!.publicKey,
      signature: b.signedPrekey!.signature,
    },
    oneTimePrekey: b.oneTimePrekey
      ? { id: b.oneTimePrekey.id, publicKey: b.oneTimePrekey.publicKey }
      : undefined,
    pqPrekey: {
      id: b.pqPrekey!.id,
      publicKey: b.pqPrekey!.publicKey,
      signature: b.pqPrekey!.signature,
      lastResort: b.pqLastResort,
    },
  };
}

function keysOf(r: TrustRecord): string {
  return r.devices
    .map((d) => `${d.deviceId}:${hex(d.identityKey)}`)
    .sort()
    .join(',');
}

/**
 * Verifies a served device list against the primary's signatures (DESIGN.md invariant 4): the
 * signed list must verify under the primary key, and every served companion must appear in it
 * with the same key and carry a DeviceIdentity the primary signed and the companion
 * counter-signed, naming this account, device id and key. A list without a signature may hold
 * only the primary. Anything else throws UNTRUSTED_DEVICES: the caller refuses the whole list.
 */
export function verifyServedList(list: DeviceList): TrustRecord {
  const untrusted = (why: string) =>
    new TandemError('UNTRUSTED_DEVICES', `device list of ${list.accountId}: ${why}`);
  const primaryKey = list.primaryIdentityKey;
  const devices: TrustedDevice[] = list.devices.map((d) => ({
    deviceId: d.deviceId,
    registrationId: d.registrationId,
    identityKey: d.identityKey,
    name: d.name,
    platform: d.platform,
    linkedAtMs: Number(d.linkedAtMs),
  }));
  const primary = list.devices.find((d) => d.deviceId === 1);
  if (!primary || !equalBytes(primary.identityKey, primaryKey))
    throw untrusted('the primary is missing or has another key');
  if (!list.signedList) {
    if (list.devices.length !== 1) throw untrusted('companions without a signed device list');
    return { primaryIdentityKey: primaryKey, listIndex: 0, devices, nextDeviceId: list.nextDeviceId };
  }
  if (!verifyDeviceList(primaryKey, list.signedList.list, list.signedList.signature)) {
    throw untrusted('the list signature does not verify');
  }
  let signedList: ReturnType<typeof decodeDeviceList>;
  try {
    signedList = decodeDeviceList(list.signedList.list);
  } catch (cause) {
    throw new TandemError('UNTRUSTED_DEVICES', 'malformed signed device list', { cause });
  }
  if (signedList.accountId !== list.accountId) throw untrusted('the signed list names another account');
  for (const d of list.devices) {
    const entry = signedList.devices.find((e) => e.deviceId === d.deviceId);
    if (!entry || !equalBytes(entry.identityKey, d.identityKey)) {
      throw untrusted(`device ${d.deviceId} is not in the primary's signed list`);
    }
    if (d.deviceId === 1) continue;
    const proof = d.identity;
    if (!proof || !verifyCompanion(primaryKey, proof)) {
      throw untrusted(`device ${d.deviceId} has no valid signature from the primary`);
    }
    const details = decodeDeviceIdentityDetails(proof.details);
    if (
      details.accountId !== list.accountId ||
      details.deviceId !== d.deviceId ||
      !equalBytes(details.identityKey, d.identityKey)
    ) {
      throw untrusted(`device ${d.deviceId}'s signed details describe another device`);
    }
  }
  return {
    primaryIdentityKey: primaryKey,
    listIndex: signedList.listIndex,
    devices,
    nextDeviceId: list.nextDeviceId,
  };
}
