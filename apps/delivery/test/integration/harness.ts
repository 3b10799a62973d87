import { createTestRedis, type TestRedis } from '@tandem/testkit';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/clock.js';
import { createDeliveryCore, type DeliveryCore } from '../../src/core.js';
import { noMetrics } from '../../src/ports.js';
import type { DeliverySettings } from '../../src/service/delivery-service.js';
import { RecordingPublisher, testSettings } from '../fixtures.js';

export interface Instance extends DeliveryCore {
  redis: Redis;
  publisher: RecordingPublisher;
  close(): void;
}

/** A Redis test prefix, a manual clock, and delivery "instances" (each its own connection). */
export class Harness {
  readonly clock = new ManualClock(1_800_000_000_000);
  private readonly instances: Instance[] = [];
  private constructor(readonly redis: TestRedis) {}

  static async create(): Promise<Harness> {
    return new Harness(await createTestRedis());
  }

  async instance(settings: Partial<DeliverySettings> = {}, expiryShards = 4): Promise<Instance> {
    const redis = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    const publisher = new RecordingPublisher();
    const core = await createDeliveryCore({
      redis,
      keyPrefix: this.redis.prefix,
      expiryShards,
      settings: testSettings(settings),
      publisher,
      clock: this.clock,
      metrics: noMetrics,
    });
    const instance = { ...core, redis, publisher, close: () => redis.disconnect() };
    this.instances.push(instance);
    return instance;
  }

  keys(): Promise<string[]> {
    return this.redis.keys();
  }

  async close(): Promise<void> {
    for (const i of this.instances) i.close();
    await this.redis.cleanup();
  }
}
