/**
 * Every failure the registry reports to a caller. Each has a stable `code`; the NATS layer maps
 * codes to proto's ErrorCode in exactly one place (src/nats/error-map.ts).
 */
export type RegistryErrorCode =
  /** Malformed input: wrong key length, empty name, oversized batch, bad id. `field` names it. */
  | 'INVALID_ARGUMENT'
  /** A signature does not verify with the key it must verify with. */
  | 'BAD_SIGNATURE'
  /** A public key has the wrong length (or is not a usable key). `field` names it. */
  | 'INVALID_KEY'
  | 'ACCOUNT_NOT_FOUND'
  | 'DEVICE_NOT_FOUND'
  /** The device was unlinked; it can no longer act. */
  | 'DEVICE_REVOKED'
  /** The caller may not do this (e.g. only the primary approves links). */
  | 'FORBIDDEN'
  /** Only the primary device may do this. */
  | 'NOT_PRIMARY'
  /**
   * State changed concurrently: the next device id moved (`details.nextDeviceId`), or a signed
   * device list does not list exactly the current devices or is not newer than the stored one.
   */
  | 'CONFLICT'
  /** The account already has the maximum number of companions; `details.linked` says how many. */
  | 'DEVICE_LIMIT'
  | 'LINK_NOT_FOUND'
  | 'LINK_EXPIRED'
  | 'LINK_ALREADY_USED'
  | 'HANDLE_TAKEN'
  | 'CODE_INVALID'
  | 'CODE_EXPIRED'
  | 'TOO_MANY_ATTEMPTS'
  /** Rate limit hit; `details.retryAfterMs` says when to retry. */
  | 'RATE_LIMITED'
  | 'INTERNAL';

export type ErrorDetails = Record<string, string | number | boolean>;

export class RegistryError extends Error {
  override readonly name: string = 'RegistryError';
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class InvalidArgumentError extends RegistryError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('INVALID_ARGUMENT', `${field} ${reason}`, { field }, options);
  }
}

export class InvalidKeyError extends RegistryError {
  override readonly name = 'InvalidKeyError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('INVALID_KEY', `${field} ${reason}`, { field });
  }
}

export class BadSignatureError extends RegistryError {
  override readonly name = 'BadSignatureError';
  constructor(readonly field: string) {
    super('BAD_SIGNATURE', `${field} does not verify`, { field });
  }
}

export class DeviceLimitError extends RegistryError {
  override readonly name = 'DeviceLimitError';
  constructor(
    readonly linked: number,
    readonly max: number,
  ) {
    super('DEVICE_LIMIT', `account already has ${linked} of ${max} companions`, { linked, max });
  }
}

export class RateLimitedError extends RegistryError {
  override readonly name = 'RateLimitedError';
  constructor(readonly retryAfterMs: number) {
    super('RATE_LIMITED', `rate limited; retry in ${retryAfterMs} ms`, { retryAfterMs });
  }
}

export const isRegistryError = (err: unknown): err is RegistryError => err instanceof RegistryError;

export const notFound = (code: 'ACCOUNT_NOT_FOUND' | 'DEVICE_NOT_FOUND' | 'LINK_NOT_FOUND', what: string) =>
  new RegistryError(code, `${what} not found`);
