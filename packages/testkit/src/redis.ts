import { Redis } from 'ioredis';
import { testEnv, uniqueToken } from './env.js';

export interface TestRedis {
  /** This test file's key prefix; every key the code under test writes must start with it. */
  prefix: string;
  url: string;
  /** A connection for assertions (scan, type, ttl). */
  client: Redis;
  /** Keys under the prefix, found with SCAN. */
  keys(): Promise<string[]>;
  /** Deletes every key under the prefix and closes the client. */
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `t${uniqueToken()}:`;
  const client = new Redis(testEnv.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await client.connect();
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    prefix,
    url: testEnv.redisUrl,
    client,
    keys,
    async cleanup() {
      const all = await keys();
      for (let i = 0; i < all.length; i += 500) await client.del(...all.slice(i, i + 500));
      client.disconnect();
    },
  };
}
