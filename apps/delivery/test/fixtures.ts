import { randomUUID } from 'node:crypto';
import type { DeliveryLimits } from '../src/core.js';
import type { AcceptInput, DeviceAddress, QueuedCopy } from '../src/domain.js';
import type { InboxPublisher } from '../src/ports.js';
import type { DeliverySettings } from '../src/service/delivery-service.js';

export const testLimits: DeliveryLimits = {
  maxCopiesPerSend: 32,
  maxCiphertextBytes: 64 * 1024,
  maxClientMessageIdLength: 64,
  maxPageSize: 500,
  maxPageBytes: 512 * 1024,
  maxAckIds: 500,
  maxStaleDevices: 256,
  maxStaleCopiesPerDevice: 16,
  maxStaleAgeMs: 86_400_000,
  historyMaxBytes: 1024 * 1024,
  historyMaxChunkBytes: 256 * 1024,
  historyMaxChunks: 64,
};

export function testSettings(over: Partial<DeliverySettings> = {}): DeliverySettings {
  return {
    ...testLimits,
    copyTtlMs: 30 * 24 * 3600 * 1000,
    maxQueuedCopies: 20_000,
    maxQueuedBytes: 64 * 1024 * 1024,
    outboxLeaseMs: 30_000,
    sweepBatch: 100,
    historyTtlMs: 24 * 3600 * 1000,
    ...over,
  };
}

export const device = (accountId: string, deviceId: number): DeviceAddress => ({ accountId, deviceId });

/** An account with `n` devices (1 = primary). */
export function account(n: number): DeviceAddress[] {
  const id = randomUUID();
  return Array.from({ length: n }, (_, i) => device(id, i + 1));
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

export function send(
  sender: DeviceAddress,
  recipients: readonly DeviceAddress[],
  clientMessageId: string,
): AcceptInput {
  return {
    sender,
    clientMessageId,
    copies: recipients.map((r) => ({
      recipient: r,
      envelopeType: 2,
      ciphertext: bytes(`ct:${clientMessageId}:${r.deviceId}`),
    })),
  };
}

/** Records what would be published to inbox subjects. */
export class RecordingPublisher implements InboxPublisher {
  readonly published: { device: DeviceAddress; copy: QueuedCopy }[] = [];
  async publish(items: readonly { device: DeviceAddress; copy: QueuedCopy }[]): Promise<void> {
    this.published.push(...items);
  }
}
