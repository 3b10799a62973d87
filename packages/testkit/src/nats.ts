import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { testEnv, uniqueToken } from './env.js';

export interface TestNats {
  /** This test file's subject prefix, passed to the services as NATS_SUBJECT_PREFIX. */
  prefix: string;
  url: string;
  /** A connection for the test's own publishes and subscriptions. */
  nc: NatsConnection;
  close(): Promise<void>;
}

export interface TestNatsOptions {
  /**
   * A NATS server of the test's own (e.g. one it kills and restarts) instead of the shared one
   * (NATS_URL, default 127.0.0.1:4222). The test's connection to it keeps reconnecting without
   * limit, as the services' connections do, so it outlives a restart.
   */
  url?: string;
}

export async function createTestNats(options: TestNatsOptions = {}): Promise<TestNats> {
  const prefix = `t_${uniqueToken()}`;
  const url = options.url ?? testEnv.natsUrl;
  const nc = await connect({
    servers: url,
    name: `test-${prefix}`,
    ...(options.url === undefined ? {} : { maxReconnectAttempts: -1, reconnectTimeWait: 250 }),
  });
  return { prefix, url, nc, close: async () => (nc.isClosed() ? undefined : nc.drain()) };
}
