/**
 * Delivery's own Redis queue layer (the same Lua scripts, loaded by delivery's script loader),
 * used by the raw floor's relay and to fill an offline device's queue before the drain workload.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { KeySpace } from '../../apps/delivery/src/store/keys.js';
import { ScriptRunner } from '../../apps/delivery/src/store/lua.js';
import { RedisQueueStore } from '../../apps/delivery/src/store/queue-store.js';
import { Scripts } from '../../apps/delivery/src/store/scripts.js';

export interface Address {
  accountId: string;
  deviceId: number;
}

export interface Queues {
  store: RedisQueueStore;
  keys: KeySpace;
  /** Enqueues one message copy per item (one pipeline); returns server id and seq per item. */
  enqueue(
    items: readonly { sender: Address; recipient: Address; clientMessageId: string; payload: Uint8Array }[],
  ): Promise<{ serverId: string; seq: number }[]>;
}

const TTL_MS = 24 * 3600 * 1000;

/** Delivery's default expiry shard count (EXPIRY_SHARDS), so keys land where delivery looks. */
export const EXPIRY_SHARDS = 16;

export async function openQueues(redis: Redis, prefix: string): Promise<Queues> {
  const scripts = new Scripts();
  const runner = new ScriptRunner(redis, scripts.all());
  await runner.loadAll();
  const keys = new KeySpace(prefix, EXPIRY_SHARDS);
  const store = new RedisQueueStore(redis, runner, scripts, keys);
  return {
    store,
    keys,
    async enqueue(items) {
      const now = Date.now();
      const results = await store.store(
        items.map((it) => {
          const serverId = randomUUID();
          return {
            recipient: it.recipient,
            idemField: `i:${it.sender.accountId}:${it.sender.deviceId}:${it.clientMessageId}`,
            serverId,
            meta: {
              kind: 'message' as const,
              sender: it.sender,
              clientMessageId: it.clientMessageId,
              envelopeType: 2,
              acceptedAtMs: now,
            },
            payload: it.payload,
            expiresAtMs: now + TTL_MS,
            maxCopies: 0,
            maxBytes: 0,
          };
        }),
      );
      return results.map((r) => {
        if (r.status === 'full') throw new Error('queue full');
        return { serverId: r.serverId, seq: r.seq };
      });
    },
  };
}

/** Deletes every key under `prefix` (SCAN + DEL in batches). Returns how many were deleted. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
    cursor = next;
    if (keys.length > 0) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}
