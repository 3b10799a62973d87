import { ErrorCode, isProtocolError } from '@tandem/proto';
import { DeliveryError, type DeliveryErrorCode } from '../errors.js';

/** What a failed request is answered with. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** Delivery error codes to wire codes: the ONE place this mapping lives. */
const CODES: Readonly<Record<DeliveryErrorCode, ErrorCode>> = {
  INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
  QUEUE_FULL: ErrorCode.QUEUE_FULL,
  PAYLOAD_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  BLOB_NOT_FOUND: ErrorCode.BLOB_NOT_FOUND,
  FORBIDDEN: ErrorCode.FORBIDDEN,
  NOT_PRIMARY: ErrorCode.NOT_PRIMARY,
  CONFLICT: ErrorCode.CONFLICT,
};

export const INTERNAL_ERROR: WireError = { code: ErrorCode.INTERNAL, message: 'internal error' };

/**
 * Maps an error thrown while handling a request to the wire: proto's ProtocolError (invalid
 * input) keeps its code, a DeliveryError maps through CODES; anything else is undefined (the
 * caller logs it and answers INTERNAL without details).
 */
export function toWireError(err: unknown): WireError | undefined {
  if (isProtocolError(err)) return { code: err.code, message: err.message.slice(0, 512) };
  if (err instanceof DeliveryError) return { code: CODES[err.code], message: err.message.slice(0, 512) };
  return undefined;
}
