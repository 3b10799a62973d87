/**
 * The one place where failures become wire errors: a RegistryError's stable code maps to proto's
 * ErrorCode (with retry hints and details), a ProtocolError from decoding keeps its own code, and
 * anything else is INTERNAL (logged by the caller, never described to the client).
 */
import {
  create,
  DeviceLimitDetailsSchema,
  ErrorCode,
  type ErrorDetails,
  ErrorDetailsSchema,
  isProtocolError,
  NextDeviceIdDetailsSchema,
} from '@tandem/proto';
import { isRegistryError, type RegistryError, type RegistryErrorCode } from '../domain/errors.js';

const CODES: Record<RegistryErrorCode, ErrorCode> = {
  INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
  INVALID_KEY: ErrorCode.INVALID_KEY,
  BAD_SIGNATURE: ErrorCode.BAD_SIGNATURE,
  ACCOUNT_NOT_FOUND: ErrorCode.NOT_FOUND,
  DEVICE_NOT_FOUND: ErrorCode.DEVICE_UNKNOWN,
  DEVICE_REVOKED: ErrorCode.DEVICE_REVOKED,
  FORBIDDEN: ErrorCode.FORBIDDEN,
  NOT_PRIMARY: ErrorCode.NOT_PRIMARY,
  CONFLICT: ErrorCode.CONFLICT,
  DEVICE_LIMIT: ErrorCode.DEVICE_LIMIT,
  LINK_NOT_FOUND: ErrorCode.LINK_NOT_FOUND,
  LINK_EXPIRED: ErrorCode.LINK_EXPIRED,
  LINK_ALREADY_USED: ErrorCode.LINK_ALREADY_USED,
  HANDLE_TAKEN: ErrorCode.ACCOUNT_EXISTS,
  CODE_INVALID: ErrorCode.CODE_INVALID,
  CODE_EXPIRED: ErrorCode.CODE_EXPIRED,
  TOO_MANY_ATTEMPTS: ErrorCode.TOO_MANY_ATTEMPTS,
  RATE_LIMITED: ErrorCode.RATE_LIMITED,
  INTERNAL: ErrorCode.INTERNAL,
};

export interface WireError {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
  details?: ErrorDetails;
}

function detailsOf(err: RegistryError): ErrorDetails | undefined {
  if (err.code === 'DEVICE_LIMIT') {
    return create(ErrorDetailsSchema, {
      kind: {
        case: 'deviceLimit',
        value: create(DeviceLimitDetailsSchema, {
          linkedCount: Number(err.details.linked),
          maxCompanions: Number(err.details.max),
        }),
      },
    });
  }
  if (err.code === 'CONFLICT' && typeof err.details.nextDeviceId === 'number') {
    return create(ErrorDetailsSchema, {
      kind: {
        case: 'nextDeviceId',
        value: create(NextDeviceIdDetailsSchema, { deviceId: err.details.nextDeviceId }),
      },
    });
  }
  return undefined;
}

/**
 * Prisma's "could not start a transaction in time" (P2028: every pooled connection stayed busy
 * for maxWait): the request did nothing and may be retried, so it is UNAVAILABLE, not INTERNAL.
 */
function isOverloaded(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { code?: unknown }).code === 'P2028' &&
    err instanceof Error
  );
}

/** The wire error for a failure, or null when it is unexpected (the caller logs it and answers INTERNAL). */
export function toWireError(err: unknown): WireError | null {
  if (isRegistryError(err)) {
    const retry = typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : undefined;
    return {
      code: CODES[err.code],
      message: err.message.slice(0, 512),
      ...(retry !== undefined ? { retryAfterMs: Math.min(retry, 0xffff_ffff) } : {}),
      ...(detailsOf(err) ? { details: detailsOf(err)! } : {}),
    };
  }
  if (isProtocolError(err)) return { code: err.code, message: err.message.slice(0, 512) };
  if (isOverloaded(err))
    return { code: ErrorCode.UNAVAILABLE, message: 'registry busy; retry', retryAfterMs: 250 };
  return null;
}

export const INTERNAL_ERROR: WireError = { code: ErrorCode.INTERNAL, message: 'internal error' };
