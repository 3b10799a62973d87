import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/clock.js';
import { LruCache } from '../../src/limits/lru.js';
import { LocalRateLimiter, TokenBucket, ViolationCounter } from '../../src/limits/token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst of `capacity`, then refuses with the time until the next token', () => {
    const bucket = new TokenBucket({ capacity: 3, refillPerSec: 2 }, 0);
    expect(bucket.take(0)).toEqual({ allowed: true });
    expect(bucket.take(0)).toEqual({ allowed: true });
    expect(bucket.take(0)).toEqual({ allowed: true });
    expect(bucket.take(0)).toEqual({ allowed: false, retryAfterMs: 500 });
    expect(bucket.take(250)).toEqual({ allowed: false, retryAfterMs: 250 });
    expect(bucket.take(500)).toEqual({ allowed: true });
  });

  it('never refills above capacity', () => {
    const bucket = new TokenBucket({ capacity: 2, refillPerSec: 100 }, 0);
    bucket.take(0);
    bucket.take(0);
    const later = 1_000_000;
    expect(bucket.take(later).allowed).toBe(true);
    expect(bucket.take(later).allowed).toBe(true);
    expect(bucket.take(later).allowed).toBe(false);
  });
});

describe('LocalRateLimiter', () => {
  it('keeps one bucket per key and refills with the injected clock', () => {
    const clock = new ManualClock(0);
    const limiter = new LocalRateLimiter({ capacity: 1, refillPerSec: 1 }, clock);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(limiter.take('b').allowed).toBe(true);
    clock.advance(1000);
    expect(limiter.take('a').allowed).toBe(true);
  });

  it('stays bounded in keys', () => {
    const limiter = new LocalRateLimiter({ capacity: 1, refillPerSec: 1 }, new ManualClock(0), 2);
    limiter.take('a');
    limiter.take('b');
    limiter.take('c'); // evicts a
    expect(limiter.take('a').allowed).toBe(true);
  });
});

describe('ViolationCounter', () => {
  it('trips after `max` violations inside the window, not when they are spread out', () => {
    const spread = new ViolationCounter(3, 1000);
    expect(spread.record(0)).toBe(false);
    expect(spread.record(600)).toBe(false);
    expect(spread.record(1700)).toBe(false);
    const burst = new ViolationCounter(3, 1000);
    burst.record(0);
    burst.record(10);
    expect(burst.record(20)).toBe(true);
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const lru = new LruCache<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now most recent
    lru.set('c', 3);
    expect(lru.has('b')).toBe(false);
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.size).toBe(2);
  });
});
