import type { NatsConnection } from '@nats-io/nats-core';
import { create, encodeBus, InboxMessageSchema, type SubjectCatalog } from '@tandem/proto';
import type { DeviceAddress, QueuedCopy } from '../domain.js';
import type { InboxPublisher } from '../ports.js';
import { toDeliver } from './convert.js';

/**
 * Publishes stored copies as InboxMessage{deliver} on each device's inbox subject: all
 * publishes are buffered by the client, then one flush. No gateway holding the device means
 * nobody receives it; the copy waits in the queue.
 */
export class NatsInboxPublisher implements InboxPublisher {
  constructor(
    private readonly nc: NatsConnection,
    private readonly catalog: SubjectCatalog,
  ) {}

  async publish(items: readonly { device: DeviceAddress; copy: QueuedCopy }[]): Promise<void> {
    for (const { device, copy } of items) {
      const subject = this.catalog.inbox(device.accountId, device.deviceId);
      const msg = create(InboxMessageSchema, { kind: { case: 'deliver', value: toDeliver(copy) } });
      this.nc.publish(subject.subject, encodeBus(subject, msg));
    }
    await this.nc.flush();
  }
}
