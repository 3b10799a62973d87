import {
  addressKey,
  type DeviceAddress,
  type Page,
  type PendingReceipt,
  parseAddressKey,
} from '../domain.js';
import type {
  CapacityQuery,
  CapacityResult,
  QueueRepository,
  RemoveResult,
  StaleCopy,
  StoreRequest,
  StoreResult,
} from '../ports.js';
import { decodeMeta, decodeOutboxEntry, encodeMeta } from './codec.js';
import type { KeySpace } from './keys.js';
import type { RedisClient, ScriptRunner } from './lua.js';
import type { RawOutboxEntry, Scripts } from './scripts.js';

/**
 * Device queues in Redis. Each operation on one device is one Lua script on that device's hash
 * slot; operations on several devices are pipelined (one round trip). The expiry index is sharded
 * (`{x:<n>}`), one sorted set of device addresses by next due time per shard.
 */
export class RedisQueueStore implements QueueRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly runner: ScriptRunner,
    private readonly scripts: Scripts,
    private readonly keys: KeySpace,
  ) {}

  get shardCount(): number {
    return this.keys.expiryShards;
  }

  async checkCapacity(queries: readonly CapacityQuery[]): Promise<CapacityResult[]> {
    const results = await this.runner.batch(
      queries.map((q) =>
        this.scripts.checkCapacity.call(this.keys.queue(q.recipient), {
          idemField: q.idemField,
          size: q.size,
          maxCopies: q.maxCopies,
          maxBytes: q.maxBytes,
        }),
      ),
    );
    return results.map((r) => {
      if (!r.ok) throw r.error;
      return r.value;
    });
  }

  /**
   * One store_copy per request, then one `ZADD LT` per request into the device's expiry shard, all
   * in one pipeline. The index add follows the store on the same connection, so it lands after it;
   * a sweeper that removes a device from the index re-checks the queue afterwards (reconcileIndex),
   * so an index entry is never lost to that race.
   */
  async store(requests: readonly StoreRequest[]): Promise<StoreResult[]> {
    const calls = requests.map((q) =>
      this.scripts.storeCopy.call(this.keys.queue(q.recipient), {
        idemField: q.idemField,
        serverId: q.serverId,
        kind: q.meta.kind === 'message' ? 'm' : 'r',
        payload: q.payload,
        meta: encodeMeta(q.meta),
        expiresAtMs: q.expiresAtMs,
        maxCopies: q.maxCopies,
        maxBytes: q.maxBytes,
      }),
    );
    const results = await this.runner.batch(
      calls,
      requests.map((q) => [
        'ZADD',
        this.keys.shard(this.keys.shardOf(q.recipient)).due,
        'LT',
        q.expiresAtMs,
        addressKey(q.recipient),
      ]),
    );
    return results.map((r): StoreResult => {
      if (!r.ok) throw r.error;
      const v = r.value;
      if (v.status !== 'existing') return v;
      const payload = new Uint8Array(v.payload.buffer, v.payload.byteOffset, v.payload.byteLength);
      return { ...v, meta: decodeMeta(v.meta), payload };
    });
  }

  async readPage(
    device: DeviceAddress,
    afterSeq: number,
    limit: number,
    maxBytes: number,
    nowMs: number,
  ): Promise<Page> {
    const reply = await this.runner.run(
      this.scripts.readPage.call(this.keys.queue(device), { afterSeq, limit, nowMs, maxBytes }),
    );
    return {
      more: reply.more,
      cursor: reply.cursor,
      copies: reply.entries.map((e) => ({
        serverId: e.serverId,
        seq: e.seq,
        expiresAtMs: e.expiresAtMs,
        meta: decodeMeta(e.meta),
        payload: new Uint8Array(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength),
      })),
    };
  }

  async staleCopies(
    devices: readonly DeviceAddress[],
    minAgeMs: number,
    limit: number,
    nowMs: number,
  ): Promise<StaleCopy[][]> {
    const results = await this.runner.batch(
      devices.map((d) => this.scripts.staleCopies.call(this.keys.queue(d), { minAgeMs, limit, nowMs })),
    );
    return results.map((r) => {
      if (!r.ok) throw r.error;
      return r.value;
    });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async ack(
    device: DeviceAddress,
    serverIds: readonly string[],
    leaseUntilMs: number,
  ): Promise<RemoveResult> {
    const reply = await this.runner.run(
      this.scripts.ack.call(this.keys.queue(device), { leaseUntilMs, serverIds }),
    );
    return { removed: reply.removed, nextDueMs: reply.nextDueMs, ...readOutbox(device, reply.outbox) };
  }

  async expire(
    device: DeviceAddress,
    nowMs: number,
    limit: number,
    leaseUntilMs: number,
  ): Promise<RemoveResult> {
    const reply = await this.runner.run(
      this.scripts.expire.call(this.keys.queue(device), { nowMs, limit, leaseUntilMs }),
    );
    return { removed: reply.expired, nextDueMs: reply.nextDueMs, ...readOutbox(device, reply.outbox) };
  }

  outboxDone(device: DeviceAddress, copyServerIds: readonly string[]): Promise<number> {
    return this.runner.run(
      this.scripts.outboxDone.call(this.keys.queue(device), { serverIds: copyServerIds }),
    );
  }

  /**
   * Empty device: remove it from its shard, then look again — an accept that stored a copy
   * meanwhile is either seen here (and re-indexed) or indexes itself after this removal.
   * Otherwise update its due time, only if it is still indexed (XX): every removal is followed by
   * such a re-check, so a concurrent sweeper never re-adds a device another one found empty.
   */
  async reconcileIndex(device: DeviceAddress, nextDueMs: number): Promise<void> {
    const due = this.keys.shard(this.keys.shardOf(device)).due;
    const member = addressKey(device);
    if (nextDueMs >= 0) {
      await this.redis.zadd(due, 'XX', nextDueMs, member);
      return;
    }
    await this.redis.zrem(due, member);
    const again = await this.runner.run(this.scripts.nextDue.call(this.keys.queue(device)));
    if (again >= 0) await this.redis.zadd(due, 'LT', again, member);
  }

  async dueDevices(shard: number, nowMs: number, limit: number): Promise<DeviceAddress[]> {
    const members = await this.redis.zrangebyscore(
      this.keys.shard(shard).due,
      '-inf',
      nowMs,
      'LIMIT',
      0,
      limit,
    );
    return members.map(parseAddressKey);
  }

  async lockShard(shard: number, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.shard(shard).lock, token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async unlockShard(shard: number, token: string): Promise<void> {
    await this.runner.run(this.scripts.releaseLock.call(this.keys.shard(shard).lock, { token }));
  }

  async revoke(device: DeviceAddress): Promise<number> {
    const dropped = await this.runner.run(this.scripts.revokeQueue.call(this.keys.queue(device)));
    await this.reconcileIndex(device, -1);
    return dropped;
  }
}

function readOutbox(
  device: DeviceAddress,
  entries: readonly RawOutboxEntry[],
): { pending: PendingReceipt[]; unreadable: string[] } {
  const pending: PendingReceipt[] = [];
  const unreadable: string[] = [];
  for (const e of entries) {
    const p = decodeOutboxEntry(device, e.copyServerId, e.body);
    if (p) pending.push(p);
    else unreadable.push(e.copyServerId);
  }
  return { pending, unreadable };
}
