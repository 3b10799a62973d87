import { LruCache } from '../limits/lru.js';
import type { DeviceSet } from './device-set.js';

/** Where current device lists come from (the registry's get_device_lists). */
export interface DeviceListSource {
  /** Active devices of each existing account among `accountIds` (unknown accounts are left out). */
  getDeviceLists(accountIds: readonly string[]): Promise<Map<string, DeviceSet>>;
}

export interface CacheStats {
  hit(): void;
  miss(): void;
}

/**
 * Device lists cached per account (LRU, bounded) for the send check, so a send costs no registry
 * round trip in the common case. Entries are dropped on the registry's device_linked /
 * device_revoked / device_list_changed events. A fetch that was in flight while its account was
 * invalidated is not stored (it may predate the change).
 */
export class DeviceListCache {
  private readonly cache: LruCache<string, DeviceSet>;
  /** Invalidation stamp per recently invalidated account. */
  private readonly invalidatedAt: LruCache<string, number>;
  private stamp = 0;
  /** Stamp of the last clear(): fetches that started before it are not stored. */
  private clearedAt = 0;

  constructor(
    private readonly source: DeviceListSource,
    capacity: number,
    private readonly stats?: CacheStats,
  ) {
    this.cache = new LruCache(capacity);
    this.invalidatedAt = new LruCache(Math.max(1024, Math.min(capacity, 100_000)));
  }

  get size(): number {
    return this.cache.size;
  }

  /** Drops everything (after missing events, e.g. across a NATS reconnect). */
  clear(): void {
    this.cache.clear();
    this.stamp++;
    this.clearedAt = this.stamp;
  }

  invalidate(accountId: string): void {
    this.cache.delete(accountId);
    this.invalidatedAt.set(accountId, ++this.stamp);
  }

  /** The lists of the given accounts; cached ones unless `fresh`, the rest in one registry request. */
  async get(accountIds: readonly string[], fresh = false): Promise<Map<string, DeviceSet>> {
    const out = new Map<string, DeviceSet>();
    const missing: string[] = [];
    for (const id of new Set(accountIds)) {
      const cached = fresh ? undefined : this.cache.get(id);
      if (cached) {
        this.stats?.hit();
        out.set(id, cached);
      } else {
        this.stats?.miss();
        missing.push(id);
      }
    }
    if (missing.length === 0) return out;
    const startedAt = this.stamp;
    const fetched = await this.source.getDeviceLists(missing);
    for (const id of missing) {
      const set = fetched.get(id);
      if (!set) continue;
      out.set(id, set);
      if (this.clearedAt <= startedAt && (this.invalidatedAt.get(id) ?? 0) <= startedAt)
        this.cache.set(id, set);
    }
    return out;
  }
}
