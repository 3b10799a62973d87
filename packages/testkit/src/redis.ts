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

export interface TestRedisOptions {
  /**
   * A Redis server of the test's own (e.g. one it kills and restarts) instead of the shared one
   * (REDIS_URL, default 127.0.0.1:6379). The key prefix is still the test's own.
   */
  url?: string;
}

export async function createTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const prefix = `t${uniqueToken()}:`;
  const url = options.url ?? testEnv.redisUrl;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
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
    url,
    client,
    keys,
    async cleanup() {
      const all = await keys();
      for (let i = 0; i < all.length; i += 500) await client.del(...all.slice(i, i + 500));
      client.disconnect();
    },
  };
}
