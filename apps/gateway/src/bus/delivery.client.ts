import {
  create,
  DeliveryAcceptRequestSchema,
  DeliveryAckRequestSchema,
  type DeliveryCopy,
  DeliveryFetchPageRequestSchema,
  DeliveryHistoryFetchChunkRequestSchema,
  DeliveryHistoryUploadChunkRequestSchema,
  type DeliveryPage,
  DeliveryPingRequestSchema,
  type DeliveryStaleCopies,
  DeliveryStaleCopiesRequestSchema,
  type HistoryChunk,
  type HistoryFetch,
  type HistoryUpload,
  type HistoryUploadResult,
  type SendAccepted,
  type SubjectCatalog,
} from '@tandem/proto';

import type { Address } from '../services/device-set.js';
import type { Bus } from './bus.js';
import { call } from './rpc.js';

/** Delivery's request/reply operations, as the gateway uses them. */
export interface DeliveryClient {
  /** Idempotent on (sender, clientMessageId); the caller may retry it. */
  accept(
    sender: Address,
    clientMessageId: string,
    copies: DeliveryCopy[],
    timeoutMs?: number,
  ): Promise<SendAccepted>;
  fetchPage(device: Address, afterSeq: bigint, limit: number): Promise<DeliveryPage>;
  ack(device: Address, serverIds: string[]): Promise<number>;
  historyUploadChunk(uploader: Address, request: HistoryUpload): Promise<HistoryUploadResult>;
  historyFetchChunk(requester: Address, request: HistoryFetch): Promise<HistoryChunk>;
  /**
   * For 1..MAX_STALE_CHECK_DEVICES devices, their oldest copies queued at least `minAgeMs` ago
   * (ids and seqs; devices without any are left out).
   */
  staleCopies(devices: readonly Address[], minAgeMs: number, limit: number): Promise<DeliveryStaleCopies>;
  /** Resolves when a delivery instance answers (readiness probe). */
  ping(timeoutMs: number): Promise<void>;
}

const addr = (a: Address) => ({ accountId: a.accountId, deviceId: a.deviceId });

export class BusDeliveryClient implements DeliveryClient {
  constructor(
    private readonly bus: Bus,
    private readonly subjects: SubjectCatalog,
    private readonly timeoutMs: number,
  ) {}

  accept(
    sender: Address,
    clientMessageId: string,
    copies: DeliveryCopy[],
    timeoutMs = this.timeoutMs,
  ): Promise<SendAccepted> {
    return call(
      this.bus,
      this.subjects.delivery.accept,
      create(DeliveryAcceptRequestSchema, { sender: addr(sender), clientMessageId, copies }),
      timeoutMs,
    );
  }

  fetchPage(device: Address, afterSeq: bigint, limit: number): Promise<DeliveryPage> {
    return call(
      this.bus,
      this.subjects.delivery.fetchPage,
      create(DeliveryFetchPageRequestSchema, { device: addr(device), afterSeq, limit }),
      this.timeoutMs,
    );
  }

  async ack(device: Address, serverIds: string[]): Promise<number> {
    const r = await call(
      this.bus,
      this.subjects.delivery.ack,
      create(DeliveryAckRequestSchema, { device: addr(device), serverIds }),
      this.timeoutMs,
    );
    return r.removed;
  }

  historyUploadChunk(uploader: Address, request: HistoryUpload): Promise<HistoryUploadResult> {
    return call(
      this.bus,
      this.subjects.delivery.historyUploadChunk,
      create(DeliveryHistoryUploadChunkRequestSchema, { uploader: addr(uploader), request }),
      this.timeoutMs,
    );
  }

  staleCopies(devices: readonly Address[], minAgeMs: number, limit: number): Promise<DeliveryStaleCopies> {
    return call(
      this.bus,
      this.subjects.delivery.staleCopies,
      create(DeliveryStaleCopiesRequestSchema, { devices: devices.map(addr), minAgeMs, limit }),
      this.timeoutMs,
    );
  }

  async ping(timeoutMs: number): Promise<void> {
    await call(this.bus, this.subjects.delivery.ping, create(DeliveryPingRequestSchema), timeoutMs);
  }

  historyFetchChunk(requester: Address, request: HistoryFetch): Promise<HistoryChunk> {
    return call(
      this.bus,
      this.subjects.delivery.historyFetchChunk,
      create(DeliveryHistoryFetchChunkRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }
}
