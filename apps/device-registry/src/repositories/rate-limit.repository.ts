import type { PrismaClient } from '../db/prisma.js';
import type { Clock } from '../domain/clock.js';
import { type BucketRule, retryAfterMs, tokensAt } from '../domain/token-bucket.js';

export interface RateLimiter {
  /** Takes one token from the bucket `key`; returns 0 when allowed, else milliseconds to wait. */
  take(key: string, rule: BucketRule): Promise<number>;
}

/**
 * Token buckets in Postgres, shared by every registry instance, so a limit holds however many
 * instances run (an in-memory bucket per instance would multiply the limit by the instance count
 * and forget it on restart). One statement per take: the UPSERT locks the bucket row, refills it
 * by the time elapsed and takes a token only if one is there (the arithmetic of
 * domain/token-bucket.ts); a denied take returns no row and writes nothing.
 */
export class PostgresRateLimiter implements RateLimiter {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: Clock,
  ) {}

  async take(key: string, rule: BucketRule): Promise<number> {
    const now = this.clock.now();
    const cap = rule.capacity;
    const rate = rule.refillPerSec;
    const taken = await this.prisma.$queryRaw<{ tokens: number }[]>`
      INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at)
      VALUES (${key}, ${cap - 1}::float8, ${now})
      ON CONFLICT (key) DO UPDATE SET
        tokens = LEAST(${cap}::float8, b.tokens
          + GREATEST(0, EXTRACT(EPOCH FROM (${now}::timestamptz - b.updated_at)))::float8 * ${rate}::float8) - 1,
        updated_at = GREATEST(b.updated_at, ${now}::timestamptz)
      WHERE LEAST(${cap}::float8, b.tokens
          + GREATEST(0, EXTRACT(EPOCH FROM (${now}::timestamptz - b.updated_at)))::float8 * ${rate}::float8) >= 1
      RETURNING tokens`;
    if (taken.length > 0) return 0;
    const row = await this.prisma.rateLimitBucket.findUnique({ where: { key } });
    const available = tokensAt(
      row ? { tokens: row.tokens, updatedAtMs: row.updatedAt.getTime() } : undefined,
      now.getTime(),
      rule,
    );
    return retryAfterMs(available, rule);
  }
}
