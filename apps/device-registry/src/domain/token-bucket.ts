/**
 * Token bucket arithmetic (the rule the Postgres limiter's single UPSERT implements; see
 * repositories/rate-limit.repository.ts). A bucket holds at most `capacity` tokens, refills
 * continuously at `refillPerSec`, and each request takes `cost`.
 */
export interface BucketRule {
  capacity: number;
  refillPerSec: number;
}

export interface BucketState {
  tokens: number;
  updatedAtMs: number;
}

export interface TakeResult {
  allowed: boolean;
  state: BucketState;
  /** 0 when allowed; otherwise how long until `cost` tokens are available. */
  retryAfterMs: number;
}

/** Tokens available at `nowMs` (a clock that went backwards refills nothing). */
export function tokensAt(state: BucketState | undefined, nowMs: number, rule: BucketRule): number {
  if (!state) return rule.capacity;
  const elapsedSec = Math.max(0, nowMs - state.updatedAtMs) / 1000;
  return Math.min(rule.capacity, state.tokens + elapsedSec * rule.refillPerSec);
}

export function take(state: BucketState | undefined, nowMs: number, rule: BucketRule, cost = 1): TakeResult {
  const available = tokensAt(state, nowMs, rule);
  const updatedAtMs = Math.max(nowMs, state?.updatedAtMs ?? nowMs);
  if (available >= cost) {
    return { allowed: true, state: { tokens: available - cost, updatedAtMs }, retryAfterMs: 0 };
  }
  return {
    allowed: false,
    state: state ?? { tokens: available, updatedAtMs },
    retryAfterMs: retryAfterMs(available, rule, cost),
  };
}

export function retryAfterMs(available: number, rule: BucketRule, cost = 1): number {
  return Math.max(1, Math.ceil(((cost - available) / rule.refillPerSec) * 1000));
}
