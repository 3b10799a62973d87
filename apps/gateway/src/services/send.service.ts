import {
  create,
  type DeliveryCopy,
  DeliveryCopySchema,
  ErrorCode,
  type Send,
  type SendResult,
  SendResultSchema,
} from '@tandem/proto';
import type { DeliveryClient } from '../bus/delivery.client.js';
import type { DeviceIdentity } from '../connection/connection.js';
import { GatewayError } from '../errors.js';

import type { DeviceListCache } from './device-list-cache.js';
import {
  type Address,
  type CopyTarget,
  checkDeviceSet,
  checkSingleDevice,
  type DeviceSetCheck,
} from './device-set.js';

export interface SendPolicy {
  /** Timeout of the delivery.accept request (not retried here: see SendService). */
  acceptTimeoutMs: number;
}

/**
 * A device's send: check the copies against the current device sets (cached; refetched once
 * before answering a mismatch), then have delivery store every copy. A timeout or an unavailable
 * delivery is answered as such (TIMEOUT / UNAVAILABLE), not retried: the device is the one hop
 * that repeats a send (the SDK, the identical request up to 3 more times), and accept is
 * idempotent on sender + client_message_id, so a repeat never duplicates. Retrying here as well
 * multiplied the attempts that reach delivery (docs/architecture.md, "Retries").
 */
export class SendService {
  constructor(
    private readonly lists: DeviceListCache,
    private readonly delivery: DeliveryClient,
    private readonly policy: SendPolicy,
  ) {}

  async send(sender: DeviceIdentity, send: Send): Promise<SendResult> {
    const targets: CopyTarget[] = send.copies.map((c) => ({
      accountId: c.address?.accountId ?? '',
      deviceId: c.address?.deviceId ?? 0,
      registrationId: c.registrationId,
    }));
    let check = await this.check(sender, send, targets, false);
    if (check.kind !== 'ok') check = await this.check(sender, send, targets, true);
    if (check.kind === 'mismatch') {
      return create(SendResultSchema, {
        result: { case: 'mismatchedDevices', value: { missing: check.missing, extra: check.extra } },
      });
    }
    if (check.kind === 'stale') {
      return create(SendResultSchema, { result: { case: 'staleDevices', value: { stale: check.stale } } });
    }
    const copies: DeliveryCopy[] = send.copies.map((c) =>
      create(DeliveryCopySchema, { recipient: c.address, type: c.type, ciphertext: c.ciphertext }),
    );
    const accepted = await this.accept(sender, send.clientMessageId, copies);
    return create(SendResultSchema, { result: { case: 'accepted', value: accepted } });
  }

  private async check(
    sender: Address,
    send: Send,
    targets: CopyTarget[],
    fresh: boolean,
  ): Promise<DeviceSetCheck> {
    const recipientAccountId = send.recipientAccountId;
    const lists = await this.lists.get([recipientAccountId, sender.accountId], fresh);
    if (!lists.has(recipientAccountId))
      throw new GatewayError(ErrorCode.NOT_FOUND, 'no such recipient account');
    return send.singleDevice
      ? checkSingleDevice(sender, recipientAccountId, targets, lists)
      : checkDeviceSet(sender, recipientAccountId, targets, lists);
  }

  private accept(sender: Address, clientMessageId: string, copies: DeliveryCopy[]) {
    return this.delivery.accept(sender, clientMessageId, copies, this.policy.acceptTimeoutMs);
  }
}
