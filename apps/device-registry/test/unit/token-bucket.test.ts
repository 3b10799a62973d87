import { describe, expect, it } from '@jest/globals';
import { take, tokensAt } from '../../src/domain/token-bucket.js';

const rule = { capacity: 3, refillPerSec: 2 };

describe('token bucket', () => {
  it('starts full and allows `capacity` takes at one instant, then refuses with the wait until one token', () => {
    let state: ReturnType<typeof take>['state'] | undefined;
    const results = [];
    for (let i = 0; i < 4; i++) {
      const r = take(state, 1000, rule);
      state = r.state;
      results.push([r.allowed, r.retryAfterMs]);
    }
    expect(results).toEqual([
      [true, 0],
      [true, 0],
      [true, 0],
      [false, 500],
    ]);
  });

  it('refills with elapsed time, never beyond capacity', () => {
    const empty = { tokens: 0, updatedAtMs: 0 };
    expect(tokensAt(empty, 250, rule)).toBe(0.5);
    expect(tokensAt(empty, 60_000, rule)).toBe(3);
    expect(take(empty, 250, rule).allowed).toBe(false);
    expect(take(empty, 250, rule).retryAfterMs).toBe(250);
    expect(take(empty, 500, rule).allowed).toBe(true);
  });

  it('does not refill when the clock goes backwards', () => {
    const s = { tokens: 0, updatedAtMs: 10_000 };
    expect(tokensAt(s, 5_000, rule)).toBe(0);
    expect(take(s, 5_000, rule).allowed).toBe(false);
  });
});
