/**
 * Delivery's internal types (independent of the wire format in @tandem/proto; src/nats/ maps
 * between the two).
 */

/** One device of one account. */
export interface DeviceAddress {
  /** Lowercase UUID. */
  readonly accountId: string;
  /** >= 1; 1 is the primary. */
  readonly deviceId: number;
}

export type ReceiptKind = 'delivered' | 'expired';

/** What a queue entry carries besides its payload bytes; stored as JSON beside the payload. */
export type CopyMeta =
  | {
      readonly kind: 'message';
      readonly sender: DeviceAddress;
      readonly clientMessageId: string;
      /** Wire envelope type (numeric enum value), opaque to delivery. */
      readonly envelopeType: number;
      /** When the server accepted the send (ms). */
      readonly acceptedAtMs: number;
    }
  | {
      readonly kind: 'receipt';
      readonly receipt: ReceiptKind;
      /** The message the receipt is about, as the sender named it. */
      readonly clientMessageId: string;
      /** The device that acknowledged it, or whose copy expired. */
      readonly recipient: DeviceAddress;
      /** Server id of that device's copy. */
      readonly copyServerId: string;
      /** When it was acknowledged / found expired (ms). */
      readonly atMs: number;
    };

/** One copy as read back from a device queue. */
export interface QueuedCopy {
  readonly serverId: string;
  /** Per-device, strictly increasing. */
  readonly seq: number;
  /** Deleted (and reported to the sender as expired) at this time if not acknowledged (ms). */
  readonly expiresAtMs: number;
  readonly meta: CopyMeta;
  /** Ciphertext of a message copy; empty for a receipt. */
  readonly payload: Uint8Array;
}

/** One recipient copy of a send. */
export interface CopyInput {
  readonly recipient: DeviceAddress;
  readonly envelopeType: number;
  readonly ciphertext: Uint8Array;
}

export interface AcceptInput {
  readonly sender: DeviceAddress;
  readonly clientMessageId: string;
  readonly copies: readonly CopyInput[];
}

export interface AcceptResult {
  /** When the send was first accepted (the same on a retry). */
  readonly serverTimestampMs: number;
  /** One per copy, in the order of the input. */
  readonly copies: readonly StoredCopy[];
}

export interface StoredCopy {
  readonly recipient: DeviceAddress;
  readonly serverId: string;
  readonly seq: number;
  /** False when a previous attempt had already stored this copy (a retry). */
  readonly created: boolean;
}

export interface Page {
  readonly copies: readonly QueuedCopy[];
  /** True when more copies follow; fetch again with afterSeq = cursor. */
  readonly more: boolean;
  /** Seq to pass as afterSeq for the next page. */
  readonly cursor: number;
}

/** An 'expired' or 'delivered' receipt waiting to be queued to the sender (outbox entry). */
export interface PendingReceipt {
  /** The server id of the recipient copy it is about (its outbox entry id). */
  readonly copyServerId: string;
  readonly receipt: ReceiptKind;
  /** The recipient device (whose queue holds the outbox entry). */
  readonly recipient: DeviceAddress;
  /** The original copy's meta (kind 'message'), naming sender and client message id. */
  readonly original: CopyMeta & { kind: 'message' };
}

export const addressKey = (a: DeviceAddress): string => `${a.accountId}:${a.deviceId}`;

export function parseAddressKey(key: string): DeviceAddress {
  const i = key.lastIndexOf(':');
  return { accountId: key.slice(0, i), deviceId: Number(key.slice(i + 1)) };
}

export const sameAddress = (a: DeviceAddress, b: DeviceAddress): boolean =>
  a.accountId === b.accountId && a.deviceId === b.deviceId;
