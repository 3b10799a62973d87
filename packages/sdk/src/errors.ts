import { ErrorCode, errorCodeName, ProtocolError } from '@tandem/proto';

/**
 * Every failure the SDK reports. `code` is the protocol's ErrorCode name when the server answered
 * with one (e.g. 'DEVICE_LIMIT', 'RATE_LIMITED'), or one of the SDK's own codes:
 * 'TIMEOUT' (no answer in time), 'DISCONNECTED' (the socket closed), 'UNTRUSTED_DEVICES' (a device
 * list that does not verify against the primary's signatures), 'NOT_REGISTERED' (the store holds
 * no device), 'NOT_PRIMARY', 'INVALID_ARGUMENT', 'MISMATCHED_DEVICES' (retries exhausted).
 */
export class TandemError extends Error {
  override readonly name = 'TandemError';
  constructor(
    readonly code: string,
    message: string,
    readonly extra: {
      retryAfterMs?: number;
      linkedCount?: number;
      /** On a failed send: the id to pass to `send` again for an idempotent retry. */
      clientMessageId?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
  }

  /** The server's ErrorCode, when the error came from the server. */
  get serverCode(): ErrorCode | undefined {
    const value = (ErrorCode as unknown as Record<string, number>)[this.code];
    return typeof value === 'number' ? (value as ErrorCode) : undefined;
  }
}

export function fromServerError(error: {
  code: ErrorCode;
  message: string;
  retryAfterMs: number;
  details?: { kind: { case: string | undefined; value?: unknown } } | undefined;
}): TandemError {
  const name = errorCodeName(error.code);
  const details = error.details?.kind;
  const linkedCount =
    details?.case === 'deviceLimit' ? (details.value as { linkedCount: number }).linkedCount : undefined;
  return new TandemError(name, error.message || name, {
    ...(error.retryAfterMs > 0 ? { retryAfterMs: error.retryAfterMs } : {}),
    ...(linkedCount === undefined ? {} : { linkedCount }),
  });
}

export function fromProtocolError(error: ProtocolError): TandemError {
  return new TandemError(errorCodeName(error.code), error.message, { cause: error });
}

/** A readable sentence for an error code, for the CLI and apps. */
export function describeError(error: unknown): string {
  if (!(error instanceof TandemError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case 'DEVICE_LIMIT':
      return `this account already has ${error.extra.linkedCount ?? 4} linked companions, the most allowed; unlink one first`;
    case 'RATE_LIMITED':
      return `too many requests; try again in ${Math.ceil((error.extra.retryAfterMs ?? 1000) / 1000)} s`;
    case 'LINK_EXPIRED':
      return 'the QR code expired; show a new one';
    case 'LINK_NOT_FOUND':
      return 'no such link session (wrong or expired QR code)';
    case 'LINK_ALREADY_USED':
      return 'this QR code was already used';
    case 'CODE_INVALID':
      return 'wrong verification code';
    case 'CODE_EXPIRED':
      return 'the verification code expired; request a new one';
    case 'TOO_MANY_ATTEMPTS':
      return 'too many attempts; request a new verification code';
    case 'ACCOUNT_EXISTS':
      return 'an account with this handle already exists';
    case 'NOT_FOUND':
      return 'not found (unknown handle or account)';
    case 'NOT_PRIMARY':
      return 'only the primary device (the phone) can do this';
    case 'DEVICE_REVOKED':
      return 'this device was unlinked';
    case 'AUTH_FAILED':
      return 'the server refused this device (unknown or revoked)';
    case 'QUEUE_FULL':
      return "the recipient's queue is full; try again later";
    case 'UNTRUSTED_DEVICES':
      return "a device list did not verify against the primary's signatures; refusing to send";
    case 'TIMEOUT':
      return 'the server did not answer in time';
    case 'DISCONNECTED':
      return 'not connected to the server';
    case 'NOT_REGISTERED':
      return 'no device in this store; register or link first';
    default:
      return `${error.code}: ${error.message}`;
  }
}
