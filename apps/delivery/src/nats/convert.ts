import {
  create,
  type Deliver,
  DeliverSchema,
  DeviceAddressSchema,
  ReceiptKind,
  type DeviceAddress as WireAddress,
} from '@tandem/proto';
import type { DeviceAddress, QueuedCopy } from '../domain.js';
import { InvalidArgumentError } from '../errors.js';

/** A wire address, required: proto validation normally guarantees it is set. */
export function addressIn(a: WireAddress | undefined, field: string): DeviceAddress {
  if (!a) throw new InvalidArgumentError(`${field} is required`);
  return { accountId: a.accountId, deviceId: a.deviceId };
}

export const addressOut = (a: DeviceAddress): WireAddress =>
  create(DeviceAddressSchema, { accountId: a.accountId, deviceId: a.deviceId });

/** A queued copy as the wire's Deliver (the inbox push and the fetch_page item). */
export function toDeliver(copy: QueuedCopy): Deliver {
  const m = copy.meta;
  if (m.kind === 'message') {
    return create(DeliverSchema, {
      serverId: copy.serverId,
      seq: BigInt(copy.seq),
      sender: addressOut(m.sender),
      clientMessageId: m.clientMessageId,
      serverTimestampMs: BigInt(m.acceptedAtMs),
      expiresAtMs: BigInt(copy.expiresAtMs),
      content: { case: 'envelope', value: { type: m.envelopeType, ciphertext: copy.payload } },
    });
  }
  return create(DeliverSchema, {
    serverId: copy.serverId,
    seq: BigInt(copy.seq),
    clientMessageId: '',
    serverTimestampMs: BigInt(m.atMs),
    expiresAtMs: BigInt(copy.expiresAtMs),
    content: {
      case: 'receipt',
      value: {
        kind: m.receipt === 'delivered' ? ReceiptKind.DELIVERED : ReceiptKind.EXPIRED,
        clientMessageId: m.clientMessageId,
        recipient: addressOut(m.recipient),
        timestampMs: BigInt(m.atMs),
      },
    },
  });
}

/** A uint64 wire value as a number (proto caps them at 2^53-1). */
export function toNumber(v: bigint, field: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`${field} out of range`);
  return Number(v);
}
