export { testEnv, uniqueToken } from './env.js';
export { createTestNats, type TestNats } from './nats.js';
export {
  createEmptyDatabase,
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseOptions,
} from './postgres.js';
export { createTestRedis, type TestRedis, type TestRedisOptions } from './redis.js';
export { waitFor } from './wait.js';
