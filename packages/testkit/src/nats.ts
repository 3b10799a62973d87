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

export async function createTestNats(): Promise<TestNats> {
  const prefix = `t_${uniqueToken()}`;
  const nc = await connect({ servers: testEnv.natsUrl, name: `test-${prefix}` });
  return { prefix, url: testEnv.natsUrl, nc, close: () => nc.drain() };
}
