import type { DeviceAddress } from './domain.js';

/**
 * Delivery's typed errors. Each has a stable `code`; src/nats/errors.ts maps codes to the wire's
 * ErrorCode in one place.
 */
export type DeliveryErrorCode =
  | 'INVALID_ARGUMENT'
  | 'QUEUE_FULL'
  | 'PAYLOAD_TOO_LARGE'
  | 'BLOB_NOT_FOUND'
  | 'FORBIDDEN'
  | 'NOT_PRIMARY'
  | 'CONFLICT';

export class DeliveryError extends Error {
  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class InvalidArgumentError extends DeliveryError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A recipient device's queue is at its copy or byte cap; nothing of the send was stored. */
export class QueueFullError extends DeliveryError {
  override readonly name = 'QueueFullError';
  constructor(
    /** The devices whose queues are full. */
    readonly devices: readonly DeviceAddress[],
  ) {
    super('QUEUE_FULL', `queue full for ${devices.length} recipient device(s)`);
  }
}

export class PayloadTooLargeError extends DeliveryError {
  override readonly name = 'PayloadTooLargeError';
  constructor(message: string) {
    super('PAYLOAD_TOO_LARGE', message);
  }
}

export class BlobNotFoundError extends DeliveryError {
  override readonly name = 'BlobNotFoundError';
  constructor(message = 'no such history blob (never existed, expired, or already fetched)') {
    super('BLOB_NOT_FOUND', message);
  }
}

export class ForbiddenError extends DeliveryError {
  override readonly name = 'ForbiddenError';
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export class NotPrimaryError extends DeliveryError {
  override readonly name = 'NotPrimaryError';
  constructor(message = 'only the primary device may upload a history blob') {
    super('NOT_PRIMARY', message);
  }
}

/** The request contradicts state already stored (e.g. a blob chunk with a different header). */
export class ConflictError extends DeliveryError {
  override readonly name = 'ConflictError';
  constructor(message: string) {
    super('CONFLICT', message);
  }
}
