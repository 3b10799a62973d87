import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient } from '../generated/prisma/client.js';

/**
 * Prisma Client over node-postgres (the driver adapter runs fully offline). Interactive
 * transactions may wait up to `maxWaitMs` for a pooled connection: under a burst (hundreds of
 * concurrent claims on a pool of 10) requests queue instead of failing after Prisma's default 2 s.
 */
export function createPrisma(databaseUrl: string, poolSize = 10, maxWaitMs = 10_000): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }),
    transactionOptions: { maxWait: maxWaitMs, timeout: 10_000 },
  });
}
