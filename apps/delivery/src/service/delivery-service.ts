import type { Clock } from '../clock.js';
import {
  type AcceptInput,
  type AcceptResult,
  addressKey,
  type CopyMeta,
  type DeviceAddress,
  type Page,
  type PendingReceipt,
  type QueuedCopy,
  type StoredCopy,
  sameAddress,
} from '../domain.js';
import {
  BlobNotFoundError,
  ConflictError,
  InvalidArgumentError,
  NotPrimaryError,
  PayloadTooLargeError,
  QueueFullError,
} from '../errors.js';
import type {
  BlobRepository,
  DeliveryMetrics,
  InboxPublisher,
  QueueRepository,
  RemoveResult,
  StaleCopy,
  StoreRequest,
} from '../ports.js';
import { messageIdemField, receiptIdemField } from '../store/keys.js';

export interface DeliverySettings {
  /** Time to live of a queued copy (and of a receipt). */
  readonly copyTtlMs: number;
  /** Per-device caps; a send that would exceed one is refused with QUEUE_FULL. */
  readonly maxQueuedCopies: number;
  readonly maxQueuedBytes: number;
  /** Limits on one send. */
  readonly maxCopiesPerSend: number;
  readonly maxCiphertextBytes: number;
  readonly maxClientMessageIdLength: number;
  /** Largest page a device may ask for, in copies and in payload bytes. */
  readonly maxPageSize: number;
  readonly maxPageBytes: number;
  /** Largest ack batch. */
  readonly maxAckIds: number;
  /** Bounds of one staleCopies call: devices, copies listed per device, largest min age. */
  readonly maxStaleDevices: number;
  readonly maxStaleCopiesPerDevice: number;
  readonly maxStaleAgeMs: number;
  /** How long an instance owns outbox entries (pending receipts) it took before another may retry them. */
  readonly outboxLeaseMs: number;
  /** Devices per shard and copies per device handled in one sweep step. */
  readonly sweepBatch: number;
  readonly historyTtlMs: number;
  readonly historyMaxBytes: number;
  readonly historyMaxChunkBytes: number;
  readonly historyMaxChunks: number;
}

export interface DeliveryServiceDeps {
  readonly queues: QueueRepository;
  readonly blobs: BlobRepository;
  readonly publisher: InboxPublisher;
  readonly clock: Clock;
  /** New server ids (UUIDs). */
  readonly newId: () => string;
  readonly metrics: DeliveryMetrics;
  readonly settings: DeliverySettings;
  /** Called with publish failures (copies stay queued; the device fetches them on reconnect). */
  readonly onPublishError?: (err: unknown) => void;
}

export interface HistoryChunkUpload {
  /** The primary device of the account. */
  readonly uploader: DeviceAddress;
  /** The companion of the same account that may fetch the blob. */
  readonly recipientDeviceId: number;
  /** Empty for a new blob (chunk 0): the server assigns one; the returned id afterwards. */
  readonly blobId: string;
  readonly index: number;
  readonly totalChunks: number;
  readonly totalSize: number;
  readonly chunk: Uint8Array;
}

export interface HistoryChunk {
  readonly chunk: Uint8Array;
  readonly totalChunks: number;
  readonly totalSize: number;
  /** True when this fetch completed the blob and it was deleted. */
  readonly deleted: boolean;
}

const BLOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function assertAddress(a: DeviceAddress, what: string): void {
  if (!UUID.test(a.accountId)) throw new InvalidArgumentError(`${what}.accountId must be a lowercase UUID`);
  if (!Number.isInteger(a.deviceId) || a.deviceId < 1 || a.deviceId > 0xffffffff) {
    throw new InvalidArgumentError(`${what}.deviceId must be an integer >= 1`);
  }
}

/**
 * Per-device queues: accept (all copies or none), fetch in pages, ack with delivered receipts,
 * expiry with expired receipts, revocation, history blobs. Pure logic over the repositories.
 */
export class DeliveryService {
  private readonly s: DeliverySettings;
  constructor(private readonly deps: DeliveryServiceDeps) {
    this.s = deps.settings;
  }

  /**
   * Stores one copy per recipient device and answers only once every copy is stored.
   * 1. Checks every recipient queue's cap (one pipelined round trip, read-only; skipped for a
   *    single copy, whose store checks atomically): if any is full,
   *    throws QueueFullError and stores nothing anywhere (a copy already stored by an earlier
   *    attempt always passes, even at the cap).
   * 2. Stores the copies, one idempotent script per device, pipelined. A retry returns the same
   *    server ids and stores only what is missing.
   * 3. Publishes every copy to its device's inbox subject (one flush).
   */
  async accept(input: AcceptInput): Promise<AcceptResult> {
    this.validateAccept(input);
    const now = this.deps.clock.now();
    const idemField = messageIdemField(input.sender, input.clientMessageId);
    const requests: StoreRequest[] = input.copies.map((c) => ({
      recipient: c.recipient,
      idemField,
      serverId: this.deps.newId(),
      meta: {
        kind: 'message',
        sender: input.sender,
        clientMessageId: input.clientMessageId,
        envelopeType: c.envelopeType,
        acceptedAtMs: now,
      },
      payload: c.ciphertext,
      expiresAtMs: now + this.s.copyTtlMs,
      maxCopies: this.s.maxQueuedCopies,
      maxBytes: this.s.maxQueuedBytes,
    }));
    return this.deps.metrics.time('accept', async () => {
      // A single copy needs no separate check: store_copy checks the cap atomically.
      if (requests.length > 1) {
        const capacity = await this.deps.queues.checkCapacity(
          requests.map((r) => ({ ...r, size: r.payload.byteLength })),
        );
        const full = requests.filter((_, i) => capacity[i] !== 'ok').map((r) => r.recipient);
        if (full.length > 0) throw new QueueFullError(full);
      }
      const results = await this.deps.queues.store(requests);
      // Only a concurrent send filling a queue between check and store gets here; the copies
      // stored are kept (not lost, not duplicated by a retry) and the sender is told QUEUE_FULL.
      const raced = requests.filter((_, i) => results[i]!.status === 'full').map((r) => r.recipient);
      if (raced.length > 0) throw new QueueFullError(raced);
      const stored: StoredCopy[] = [];
      const pushes: { device: DeviceAddress; copy: QueuedCopy }[] = [];
      let created = 0;
      let acceptedAt = now;
      results.forEach((r, i) => {
        if (r.status === 'full') return;
        const req = requests[i]!;
        if (r.status === 'stored') created++;
        stored.push({
          recipient: req.recipient,
          serverId: r.serverId,
          seq: r.seq,
          created: r.status === 'stored',
        });
        // A copy stored by an earlier attempt is pushed again exactly as stored (that attempt
        // may have died before publishing); devices deduplicate by server id.
        const copy: QueuedCopy =
          r.status === 'stored'
            ? {
                serverId: r.serverId,
                seq: r.seq,
                expiresAtMs: req.expiresAtMs,
                meta: req.meta,
                payload: req.payload,
              }
            : {
                serverId: r.serverId,
                seq: r.seq,
                expiresAtMs: r.expiresAtMs,
                meta: r.meta,
                payload: r.payload,
              };
        if (r.status === 'existing' && r.meta.kind === 'message')
          acceptedAt = Math.min(acceptedAt, r.meta.acceptedAtMs);
        pushes.push({ device: req.recipient, copy });
      });
      this.deps.metrics.copiesAccepted(created);
      await this.publish(pushes);
      return { serverTimestampMs: acceptedAt, copies: stored };
    });
  }

  private validateAccept(input: AcceptInput): void {
    assertAddress(input.sender, 'sender');
    const id = input.clientMessageId;
    if (id.length === 0 || id.length > this.s.maxClientMessageIdLength) {
      throw new InvalidArgumentError(
        `clientMessageId must be 1..${this.s.maxClientMessageIdLength} characters`,
      );
    }
    if (input.copies.length === 0) throw new InvalidArgumentError('a send needs at least one copy');
    if (input.copies.length > this.s.maxCopiesPerSend) {
      throw new InvalidArgumentError(`a send has at most ${this.s.maxCopiesPerSend} copies`);
    }
    const seen = new Set<string>();
    for (const c of input.copies) {
      assertAddress(c.recipient, 'recipient');
      const key = addressKey(c.recipient);
      if (seen.has(key)) throw new InvalidArgumentError('two copies for one recipient device');
      seen.add(key);
      if (sameAddress(c.recipient, input.sender))
        throw new InvalidArgumentError('a device does not send to itself');
      if (c.ciphertext.byteLength === 0) throw new InvalidArgumentError('empty ciphertext');
      if (c.ciphertext.byteLength > this.s.maxCiphertextBytes) {
        throw new PayloadTooLargeError(`ciphertext over ${this.s.maxCiphertextBytes} bytes`);
      }
    }
  }

  /** One page of the device's queue, in seq order, after `afterSeq`. */
  async fetchPage(device: DeviceAddress, afterSeq: number, limit: number): Promise<Page> {
    assertAddress(device, 'device');
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0)
      throw new InvalidArgumentError('afterSeq must be >= 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > this.s.maxPageSize) {
      throw new InvalidArgumentError(`limit must be 1..${this.s.maxPageSize}`);
    }
    return this.deps.metrics.time('fetch_page', () =>
      this.deps.queues.readPage(device, afterSeq, limit, this.s.maxPageBytes, this.deps.clock.now()),
    );
  }

  /**
   * For each device, at most `limit` of its oldest unexpired copies stored at least `minAgeMs`
   * ago (the store's clock), as ids and seqs; devices without any are left out. One pipelined
   * round trip for all devices.
   */
  async staleCopies(
    devices: readonly DeviceAddress[],
    minAgeMs: number,
    limit: number,
  ): Promise<{ device: DeviceAddress; copies: readonly StaleCopy[] }[]> {
    if (devices.length < 1 || devices.length > this.s.maxStaleDevices)
      throw new InvalidArgumentError(`devices must hold 1..${this.s.maxStaleDevices} addresses`);
    const seen = new Set<string>();
    devices.forEach((d, i) => {
      assertAddress(d, `devices[${i}]`);
      const k = addressKey(d);
      if (seen.has(k)) throw new InvalidArgumentError(`devices[${i}] is listed twice`);
      seen.add(k);
    });
    if (!Number.isInteger(minAgeMs) || minAgeMs < 1 || minAgeMs > this.s.maxStaleAgeMs)
      throw new InvalidArgumentError(`minAgeMs must be 1..${this.s.maxStaleAgeMs}`);
    if (!Number.isInteger(limit) || limit < 1 || limit > this.s.maxStaleCopiesPerDevice)
      throw new InvalidArgumentError(`limit must be 1..${this.s.maxStaleCopiesPerDevice}`);
    return this.deps.metrics.time('stale_copies', async () => {
      const lists = await this.deps.queues.staleCopies(devices, minAgeMs, limit, this.deps.clock.now());
      return lists.flatMap((copies, i) => (copies.length > 0 ? [{ device: devices[i]!, copies }] : []));
    });
  }

  /** Resolves once the queue store answers (the readiness probe of delivery.ping). */
  ping(): Promise<void> {
    return this.deps.queues.ping();
  }

  /**
   * Deletes the device's acknowledged copies (unknown ids are no-ops; ids of other devices are not
   * in this device's queue) and queues a delivered receipt to each message's sending device.
   */
  async ack(device: DeviceAddress, serverIds: readonly string[]): Promise<{ removed: number }> {
    assertAddress(device, 'device');
    if (serverIds.length === 0) return { removed: 0 };
    if (serverIds.length > this.s.maxAckIds)
      throw new InvalidArgumentError(`at most ${this.s.maxAckIds} ids`);
    const ids = [...new Set(serverIds)];
    return this.deps.metrics.time('ack', async () => {
      const result = await this.deps.queues.ack(device, ids, this.deps.clock.now() + this.s.outboxLeaseMs);
      this.deps.metrics.copiesAcked(result.removed);
      await this.settle(device, result, false);
      return { removed: result.removed };
    });
  }

  /**
   * Queues the receipts of an outbox batch, drops the outbox entries, and updates the device's
   * expiry-index entry (always after a sweep; after an ack only when the device became empty).
   */
  private async settle(device: DeviceAddress, result: RemoveResult, always: boolean): Promise<void> {
    let nextDue = result.nextDueMs;
    const done = [...result.pending.map((p) => p.copyServerId), ...result.unreadable];
    if (done.length > 0) {
      await this.queueReceipts(result.pending);
      nextDue = await this.deps.queues.outboxDone(device, done);
    }
    if (always || nextDue < 0) await this.deps.queues.reconcileIndex(device, nextDue);
  }

  /**
   * Queues receipts to the devices that sent the messages. Delivery does not know account device
   * lists (the registry does), so a receipt goes to the sending device only. Idempotent on
   * (kind, copy id): a receipt retried from a re-claimed outbox entry is not queued twice.
   */
  private async queueReceipts(pending: readonly PendingReceipt[]): Promise<void> {
    if (pending.length === 0) return;
    const now = this.deps.clock.now();
    const requests: StoreRequest[] = pending.map((p) => {
      const meta: CopyMeta = {
        kind: 'receipt',
        receipt: p.receipt,
        clientMessageId: p.original.clientMessageId,
        recipient: p.recipient,
        copyServerId: p.copyServerId,
        atMs: now,
      };
      return {
        recipient: p.original.sender,
        idemField: receiptIdemField(p.receipt, p.copyServerId),
        serverId: this.deps.newId(),
        meta,
        payload: new Uint8Array(0),
        expiresAtMs: now + this.s.copyTtlMs,
        // Receipts are metadata, bounded by the messages the device sent: not refused by the caps.
        maxCopies: 0,
        maxBytes: 0,
      };
    });
    const results = await this.deps.queues.store(requests);
    const pushes: { device: DeviceAddress; copy: QueuedCopy }[] = [];
    let created = 0;
    results.forEach((r, i) => {
      if (r.status === 'full') return;
      const req = requests[i]!;
      if (r.status === 'stored') created++;
      pushes.push({
        device: req.recipient,
        copy: {
          serverId: r.serverId,
          seq: r.seq,
          expiresAtMs: req.expiresAtMs,
          meta: req.meta,
          payload: req.payload,
        },
      });
    });
    this.deps.metrics.receiptsQueued(created);
    await this.publish(pushes);
  }

  private async publish(items: { device: DeviceAddress; copy: QueuedCopy }[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.deps.publisher.publish(items);
    } catch (err) {
      this.deps.onPublishError?.(err);
    }
  }

  /**
   * Expires the due copies of one device: moves them to its outbox, queues one expired receipt
   * per message copy to its sender, clears the outbox, re-indexes the device.
   */
  async sweepDevice(device: DeviceAddress): Promise<number> {
    let total = 0;
    for (let round = 0; round < 100; round++) {
      const now = this.deps.clock.now();
      const result = await this.deps.metrics.time('expire', () =>
        this.deps.queues.expire(device, now, this.s.sweepBatch, now + this.s.outboxLeaseMs),
      );
      total += result.removed;
      this.deps.metrics.copiesExpired(result.removed);
      await this.settle(device, result, true);
      if (
        result.removed < this.s.sweepBatch &&
        result.pending.length + result.unreadable.length < this.s.sweepBatch
      ) {
        break;
      }
    }
    return total;
  }

  /** One sweep of one expiry-index shard; returns the copies expired. */
  async sweepShard(shard: number): Promise<number> {
    const devices = await this.deps.queues.dueDevices(shard, this.deps.clock.now(), this.s.sweepBatch);
    let total = 0;
    for (const device of devices) total += await this.sweepDevice(device);
    return total;
  }

  /**
   * Deletes a revoked device's queue (copies, expiry-index entry, pending outbox entries) and the
   * history blobs addressed to it. Returns the copies dropped.
   */
  async revokeDevice(device: DeviceAddress): Promise<number> {
    assertAddress(device, 'device');
    return this.deps.metrics.time('revoke', async () => {
      const dropped = await this.deps.queues.revoke(device);
      await this.deps.blobs.purgeFor(device);
      return dropped;
    });
  }

  /** Stores one chunk of a companion's encrypted history bundle, uploaded by the primary. */
  async putHistoryChunk(
    u: HistoryChunkUpload,
  ): Promise<{ blobId: string; chunksStored: number; complete: boolean }> {
    assertAddress(u.uploader, 'uploader');
    const recipient: DeviceAddress = { accountId: u.uploader.accountId, deviceId: u.recipientDeviceId };
    assertAddress(recipient, 'recipient');
    if (u.blobId === '' && u.index !== 0) throw new InvalidArgumentError('blobId is required after chunk 0');
    if (u.blobId !== '' && !BLOB_ID.test(u.blobId)) {
      throw new InvalidArgumentError('blobId must be 1..64 of [A-Za-z0-9_-]');
    }
    if (u.uploader.deviceId !== 1) throw new NotPrimaryError();
    if (recipient.deviceId === u.uploader.deviceId)
      throw new InvalidArgumentError('recipient is the uploader');
    if (!Number.isInteger(u.totalSize) || u.totalSize < 1)
      throw new InvalidArgumentError('totalSize must be >= 1');
    if (u.totalSize > this.s.historyMaxBytes) {
      throw new PayloadTooLargeError(`history blob over ${this.s.historyMaxBytes} bytes`);
    }
    if (!Number.isInteger(u.totalChunks) || u.totalChunks < 1 || u.totalChunks > this.s.historyMaxChunks) {
      throw new InvalidArgumentError(`totalChunks must be 1..${this.s.historyMaxChunks}`);
    }
    if (!Number.isInteger(u.index) || u.index < 0 || u.index >= u.totalChunks) {
      throw new InvalidArgumentError('index must be 0..totalChunks-1');
    }
    // Every chunk is exactly historyMaxChunkBytes long except the last, which is the remainder.
    const chunkBytes = this.s.historyMaxChunkBytes;
    if (u.totalChunks !== Math.ceil(u.totalSize / chunkBytes)) {
      throw new InvalidArgumentError(`totalChunks must be ceil(totalSize / ${chunkBytes})`);
    }
    const expected =
      u.index < u.totalChunks - 1 ? chunkBytes : u.totalSize - chunkBytes * (u.totalChunks - 1);
    if (u.chunk.byteLength !== expected) {
      throw new InvalidArgumentError(`chunk ${u.index} must be ${expected} bytes`);
    }
    const now = this.deps.clock.now();
    const blobId = u.blobId === '' ? this.deps.newId() : u.blobId;
    const r = await this.deps.metrics.time('history_put', () =>
      this.deps.blobs.putChunk(
        blobId,
        u.blobId === '' ? 'new' : 'existing',
        { uploader: u.uploader, recipient, totalChunks: u.totalChunks, totalSize: u.totalSize },
        u.index,
        u.chunk,
        now + this.s.historyTtlMs,
        this.s.historyTtlMs,
        this.s.historyMaxBytes,
      ),
    );
    if (r.status === 'ok') return { blobId, chunksStored: r.chunksStored, complete: r.complete };
    switch (r.reason) {
      case 'not_found':
        throw new BlobNotFoundError();
      case 'header':
        throw new ConflictError('the blob was started with a different header');
      case 'too_large':
        throw new PayloadTooLargeError('history blob too large');
      case 'order':
        throw new InvalidArgumentError('chunk out of order: upload chunks in order, starting at 0');
      default:
        throw new InvalidArgumentError('chunk sizes do not add up to totalSize');
    }
  }

  /**
   * Hands a chunk to the one device the blob is addressed to (any other device: BLOB_NOT_FOUND);
   * the blob is deleted once every chunk has been fetched (with in-order fetching: on the last).
   */
  async getHistoryChunk(requester: DeviceAddress, blobId: string, index: number): Promise<HistoryChunk> {
    assertAddress(requester, 'requester');
    if (!BLOB_ID.test(blobId)) throw new InvalidArgumentError('blobId must be 1..64 of [A-Za-z0-9_-]');
    if (!Number.isInteger(index) || index < 0) throw new InvalidArgumentError('index must be >= 0');
    const r = await this.deps.metrics.time('history_get', () =>
      this.deps.blobs.getChunk(blobId, requester, index, this.deps.clock.now()),
    );
    switch (r.status) {
      case 'ok':
        return { chunk: r.chunk, totalChunks: r.totalChunks, totalSize: r.totalSize, deleted: r.deleted };
      case 'forbidden':
        // Not FORBIDDEN: another device must not learn that the blob id exists.
        throw new BlobNotFoundError('no such history blob for this device');
      case 'incomplete':
        throw new BlobNotFoundError('the history blob is not completely uploaded yet');
      case 'out_of_range':
        throw new InvalidArgumentError('index out of range');
      default:
        throw new BlobNotFoundError();
    }
  }
}
