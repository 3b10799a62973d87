/**
 * Lean device clients for load: one WebSocket each, raw frames, real auth signatures (Ed25519
 * through node:crypto) but opaque ciphertext. `TandemConn` speaks the Tandem protocol
 * (@tandem/proto frames), `FloorConn` the raw floor's minimal one. Both ack every delivered copy
 * in batches (once per event-loop turn, at most MAX_ACK_BATCH ids).
 */
import { type KeyObject, sign } from 'node:crypto';
import { authChallengeMessage } from '@tandem/crypto/identity';
import {
  ClientFrameSchema,
  create,
  decodeServerFrame,
  EnvelopeType,
  encodeClientFrame,
  MAX_ACK_BATCH,
  WEBSOCKET_SUBPROTOCOL,
} from '@tandem/proto';
import WebSocket from 'ws';
import { encodeAck, encodeHello, encodeSend, F, ID_LEN } from './floor-protocol.js';

export interface Cred {
  accountId: string;
  deviceId: number;
  registrationId: number;
  key: KeyObject;
}

export interface OutCopy {
  accountId: string;
  deviceId: number;
  registrationId: number;
  payload: Uint8Array;
}

export interface Handlers {
  /** A message copy (not a receipt) arrived. */
  onDeliver?(payload: Uint8Array): void;
  onReceipt?(): void;
  onQueueEmpty?(): void;
  onSendResult?(ok: boolean): void;
  onClose?(code: number): void;
}

export interface Conn {
  readonly cred: Cred;
  handlers: Handlers;
  noAck: boolean;
  /** Resolves once authenticated (Tandem) or greeted (floor). */
  open(): Promise<void>;
  send(recipientAccountId: string, copies: readonly OutCopy[]): void;
  /** Abrupt drop: the socket is destroyed without a close handshake. */
  drop(): void;
  close(): void;
  readonly isOpen: boolean;
}

export interface ConnectOptions {
  url: string;
  localAddress: string;
  timeoutMs: number;
}

/** Source address for connection `i`: spread over 127.0.0.2..127.0.0.251 (ephemeral ports per address). */
const ACKS_IN_FLIGHT = 8;

export const sourceAddress = (i: number) => `127.0.0.${2 + (i % 250)}`;

abstract class BaseConn implements Conn {
  handlers: Handlers = {};
  protected ws: WebSocket | undefined;
  private pendingAcks: string[] = [];
  private ackScheduled = false;
  private acksInFlight = 0;
  /** Ack errors answered by the server (should stay 0). */
  ackErrors = 0;

  constructor(
    readonly cred: Cred,
    protected readonly opts: ConnectOptions,
  ) {}

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  protected abstract protocols(): string[];
  protected abstract onMessage(data: Buffer, ready: () => void, fail: (e: Error) => void): void;
  protected abstract encodeAck(ids: string[]): Uint8Array;
  abstract send(recipientAccountId: string, copies: readonly OutCopy[]): void;

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.opts.url, this.protocols(), {
        localAddress: this.opts.localAddress,
        perMessageDeflate: false,
        maxPayload: 8 * 1024 * 1024,
        handshakeTimeout: this.opts.timeoutMs,
      });
      this.ws = ws;
      let settled = false;
      const timer = setTimeout(() => fail(new Error('open timed out')), this.opts.timeoutMs);
      const ready = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(e);
      };
      ws.on('error', (e) => fail(e));
      ws.on('close', (code) => {
        fail(new Error(`closed ${code} before ready`));
        this.handlers.onClose?.(code);
      });
      ws.on('message', (data: Buffer) => this.onMessage(data, ready, fail));
    });
  }

  /** When set, delivered copies are not acked (experiments only). */
  noAck = false;

  protected ack(id: string): void {
    if (this.noAck) return;
    this.pendingAcks.push(id);
    if (this.pendingAcks.length >= MAX_ACK_BATCH) this.flushAcks();
    else if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  /**
   * Sends pending acks, at most MAX_ACK_BATCH ids per frame and ACKS_IN_FLIGHT frames unanswered
   * (the gateway allows 32 requests in flight per socket); the rest wait for an answer.
   */
  private flushAcks(): void {
    this.ackScheduled = false;
    while (this.pendingAcks.length > 0 && this.acksInFlight < ACKS_IN_FLIGHT && this.isOpen) {
      const ids = this.pendingAcks.splice(0, MAX_ACK_BATCH);
      this.acksInFlight++;
      this.ws!.send(this.encodeAck(ids));
    }
  }

  /** An ack was answered (acked, or an error). */
  protected ackAnswered(ok: boolean): void {
    if (!ok) this.ackErrors++;
    this.acksInFlight = Math.max(0, this.acksInFlight - 1);
    this.flushAcks();
  }

  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
  }
}

export class TandemConn extends BaseConn {
  private nextId = 1;
  private authId = 0;
  private readonly ackIds = new Set<number>();

  protected protocols(): string[] {
    return [WEBSOCKET_SUBPROTOCOL];
  }

  protected onMessage(data: Buffer, ready: () => void, fail: (e: Error) => void): void {
    let f: ReturnType<typeof decodeServerFrame>;
    try {
      f = decodeServerFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch {
      return;
    }
    const b = f.body;
    switch (b.case) {
      case 'deliver': {
        const d = b.value;
        if (d.content.case === 'envelope') this.handlers.onDeliver?.(d.content.value.ciphertext);
        else this.handlers.onReceipt?.();
        this.ack(d.serverId);
        return;
      }
      case 'sendResult':
        this.handlers.onSendResult?.(b.value.result.case === 'accepted');
        return;
      case 'queueEmpty':
        this.handlers.onQueueEmpty?.();
        return;
      case 'challenge': {
        const timestampMs = Date.now();
        const message = authChallengeMessage({
          realm: b.value.realm,
          nonce: b.value.nonce,
          timestampMs,
          accountId: this.cred.accountId,
          deviceId: this.cred.deviceId,
        });
        const signature = new Uint8Array(sign(null, message, this.cred.key));
        this.authId = this.nextId++;
        this.ws!.send(
          encodeClientFrame(
            create(ClientFrameSchema, {
              requestId: this.authId,
              body: {
                case: 'authenticate',
                value: {
                  accountId: this.cred.accountId,
                  deviceId: this.cred.deviceId,
                  timestampMs: BigInt(timestampMs),
                  signature,
                },
              },
            }),
          ),
        );
        return;
      }
      case 'authenticated':
        ready();
        return;
      case 'acked':
        this.ackIds.delete(f.requestId);
        this.ackAnswered(true);
        return;
      case 'error':
        if (f.requestId === this.authId && this.authId !== 0) fail(new Error(`auth error ${b.value.code}`));
        else if (this.ackIds.delete(f.requestId)) this.ackAnswered(false);
        else if (f.requestId !== 0) this.handlers.onSendResult?.(false);
        return;
      default:
        return;
    }
  }

  protected encodeAck(ids: string[]): Uint8Array {
    return encodeClientFrame(
      create(ClientFrameSchema, {
        requestId: this.nextId++,
        body: { case: 'ack', value: { serverIds: ids } },
      }),
    );
  }

  send(recipientAccountId: string, copies: readonly OutCopy[]): void {
    this.ws!.send(
      encodeClientFrame(
        create(ClientFrameSchema, {
          requestId: this.nextId++,
          body: {
            case: 'send',
            value: {
              clientMessageId: `m${this.nextId}`,
              recipientAccountId,
              copies: copies.map((c) => ({
                address: { accountId: c.accountId, deviceId: c.deviceId },
                registrationId: c.registrationId,
                type: EnvelopeType.MESSAGE,
                ciphertext: c.payload,
              })),
            },
          },
        }),
      ),
    );
  }
}

export class FloorConn extends BaseConn {
  private nextId = 1;

  protected protocols(): string[] {
    return [];
  }

  override open(): Promise<void> {
    const p = super.open();
    this.ws!.once('open', () => this.ws!.send(encodeHello(this.cred.accountId, this.cred.deviceId)));
    return p;
  }

  protected onMessage(data: Buffer, ready: () => void): void {
    switch (data[0]) {
      case F.DELIVER: {
        this.handlers.onDeliver?.(
          new Uint8Array(data.buffer, data.byteOffset + 1 + ID_LEN, data.length - 1 - ID_LEN),
        );
        this.ack(data.toString('ascii', 1, 1 + ID_LEN));
        return;
      }
      case F.SENT:
        this.handlers.onSendResult?.(true);
        return;
      case F.ACKED:
        this.ackAnswered(true);
        return;
      case F.QUEUE_EMPTY:
        this.handlers.onQueueEmpty?.();
        return;
      case F.READY:
        ready();
        return;
      default:
        return;
    }
  }

  protected encodeAck(ids: string[]): Uint8Array {
    return encodeAck(ids);
  }

  send(_recipientAccountId: string, copies: readonly OutCopy[]): void {
    this.ws!.send(encodeSend(this.nextId++, copies));
  }
}
