import { ErrorCode, type ErrorDetails, isProtocolError } from '@tandem/proto';
import { BusUnavailableError } from './bus/bus.js';

/**
 * A request failed for a reason the device is told about: a stable ErrorCode (the wire code),
 * an optional retry hint and code-specific details. Services throw it; `toWireError` is the one
 * place that maps any failure to the ServerError sent on the socket.
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterMs = 0,
    readonly details?: ErrorDetails,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
  retryAfterMs: number;
  details?: ErrorDetails;
  /** True when the failure is the server's fault (logged at error level). */
  internal: boolean;
}

/** Maps any failure to the error a device sees. Unknown exceptions become INTERNAL without detail. */
export function toWireError(err: unknown): WireError {
  if (err instanceof GatewayError) {
    return {
      code: err.code,
      message: err.message,
      retryAfterMs: err.retryAfterMs,
      details: err.details,
      internal: false,
    };
  }
  if (isProtocolError(err)) {
    return { code: err.code, message: err.message.slice(0, 500), retryAfterMs: 0, internal: false };
  }
  if (err instanceof BusUnavailableError) {
    return err.reason === 'timeout'
      ? {
          code: ErrorCode.TIMEOUT,
          message: 'a service did not answer in time',
          retryAfterMs: 1000,
          internal: true,
        }
      : {
          code: ErrorCode.UNAVAILABLE,
          message: 'a service is unavailable',
          retryAfterMs: 1000,
          internal: true,
        };
  }
  return { code: ErrorCode.INTERNAL, message: 'internal error', retryAfterMs: 0, internal: true };
}
