import type { Clock } from '../clock.js';
import { LruCache } from './lru.js';

export interface BucketPolicy {
  /** Tokens the bucket holds when full (the burst). */
  capacity: number;
  /** Tokens added per second. */
  refillPerSec: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

/** One token bucket; time comes from the caller so it is deterministic under test. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly policy: BucketPolicy,
    now: number,
  ) {
    this.tokens = policy.capacity;
    this.updatedAt = now;
  }

  take(now: number, cost = 1): TakeResult {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.policy.capacity, this.tokens + (elapsed * this.policy.refillPerSec) / 1000);
    this.updatedAt = now;
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return { allowed: true };
    }
    const missing = cost - this.tokens;
    return {
      allowed: false,
      retryAfterMs: Math.max(1, Math.ceil((missing * 1000) / this.policy.refillPerSec)),
    };
  }
}

/** A rate limiter keyed by a string (an IP, a device address). */
export interface RateLimiter {
  take(key: string, cost?: number): TakeResult;
}

/**
 * Token buckets per key held in this process, bounded by an LRU (an evicted key starts again with a
 * full bucket, which only ever errs on the permissive side for keys idle long enough to be evicted).
 */
export class LocalRateLimiter implements RateLimiter {
  private readonly buckets: LruCache<string, TokenBucket>;

  constructor(
    private readonly policy: BucketPolicy,
    private readonly clock: Clock,
    maxKeys = 100_000,
  ) {
    this.buckets = new LruCache(maxKeys);
  }

  take(key: string, cost = 1): TakeResult {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.policy, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now, cost);
  }
}

/**
 * Counts rate-limit violations of one connection in a sliding window; once `max` are reached the
 * connection is closed (a client that ignores retry_after_ms is not worth serving).
 */
export class ViolationCounter {
  private stamps: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Records one violation; true when the connection has now exceeded its allowance. */
  record(now: number): boolean {
    this.stamps.push(now);
    const from = now - this.windowMs;
    while (this.stamps.length > 0 && this.stamps[0]! < from) this.stamps.shift();
    return this.stamps.length >= this.max;
  }
}
