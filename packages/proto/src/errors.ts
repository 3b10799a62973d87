import { ErrorCode } from './gen/tandem/v1/common_pb.js';

/**
 * The one error every decoder, encoder and validator of this package throws. `code` says what
 * kind of violation it is (BAD_FRAME: unparseable or structurally wrong; FRAME_TOO_LARGE /
 * PAYLOAD_TOO_LARGE: over the byte limit, checked before parsing; INVALID_KEY: a public key of
 * the wrong length; INVALID_ARGUMENT: any other field rule), `path` names the field
 * (e.g. `ClientFrame.send.copies[2].ciphertext`) and `cause` holds the underlying exception,
 * if any. The gateway answers such a frame with `ServerFrame.error{code}`.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** What kind of violation; an ErrorCode value. */
  readonly code: ErrorCode;
  /** Field path of the violation; '' for the whole message. */
  readonly path: string;

  constructor(code: ErrorCode, path: string, reason: string, options?: { cause?: unknown }) {
    super(path === '' ? reason : `${path}: ${reason}`, options);
    this.code = code;
    this.path = path;
  }
}

/** True for a ProtocolError (also across realms/bundles, by name and shape). */
export function isProtocolError(error: unknown): error is ProtocolError {
  return (
    error instanceof ProtocolError ||
    (error instanceof Error &&
      error.name === 'ProtocolError' &&
      typeof (error as ProtocolError).code === 'number')
  );
}

/** Meaning and client behaviour of one ErrorCode. */
export interface ErrorCodeInfo {
  /** The proto enum value name without prefix, e.g. 'RATE_LIMITED'. */
  readonly name: string;
  /**
   * May the same request succeed if simply sent again later (after retry_after_ms, with
   * backoff)? False means the request (or the client's state) must change first.
   */
  readonly retryable: boolean;
  /** One-line meaning. */
  readonly meaning: string;
}

type KnownErrorCode = Exclude<ErrorCode, ErrorCode.UNSPECIFIED>;

/** The error code table (docs/protocol.md shows the same table; a test keeps them in sync). */
export const ERROR_CODE_INFO: Readonly<Record<KnownErrorCode, ErrorCodeInfo>> = {
  [ErrorCode.BAD_FRAME]: {
    name: 'BAD_FRAME',
    retryable: false,
    meaning: 'The frame could not be parsed, has no body, or is not allowed in this direction.',
  },
  [ErrorCode.FRAME_TOO_LARGE]: {
    name: 'FRAME_TOO_LARGE',
    retryable: false,
    meaning: 'The frame is larger than MAX_FRAME_BYTES.',
  },
  [ErrorCode.UNSUPPORTED_VERSION]: {
    name: 'UNSUPPORTED_VERSION',
    retryable: false,
    meaning: 'The client did not offer a supported protocol version (WebSocket subprotocol).',
  },
  [ErrorCode.UNAUTHENTICATED]: {
    name: 'UNAUTHENTICATED',
    retryable: false,
    meaning: 'The frame needs an authenticated socket; authenticate first.',
  },
  [ErrorCode.AUTH_FAILED]: {
    name: 'AUTH_FAILED',
    retryable: false,
    meaning: 'The challenge signature, timestamp or registration did not verify.',
  },
  [ErrorCode.AUTH_TIMEOUT]: {
    name: 'AUTH_TIMEOUT',
    retryable: true,
    meaning: 'No authenticate (or register/link) frame arrived in time; reconnect.',
  },
  [ErrorCode.DEVICE_UNKNOWN]: {
    name: 'DEVICE_UNKNOWN',
    retryable: false,
    meaning: 'No such device.',
  },
  [ErrorCode.DEVICE_REVOKED]: {
    name: 'DEVICE_REVOKED',
    retryable: false,
    meaning: 'The device was unlinked; it must be linked again as a new device.',
  },
  [ErrorCode.NOT_PRIMARY]: {
    name: 'NOT_PRIMARY',
    retryable: false,
    meaning: 'Only the primary device may do this.',
  },
  [ErrorCode.FORBIDDEN]: {
    name: 'FORBIDDEN',
    retryable: false,
    meaning: 'The requester may not do this (other account, other device, wrong socket state).',
  },
  [ErrorCode.RATE_LIMITED]: {
    name: 'RATE_LIMITED',
    retryable: true,
    meaning: 'Too many requests; wait retry_after_ms.',
  },
  [ErrorCode.QUEUE_FULL]: {
    name: 'QUEUE_FULL',
    retryable: true,
    meaning: "A recipient device's queue is full; retry later.",
  },
  [ErrorCode.DEVICE_LIMIT]: {
    name: 'DEVICE_LIMIT',
    retryable: false,
    meaning: 'The account already has MAX_COMPANIONS companions (details.device_limit).',
  },
  [ErrorCode.LINK_NOT_FOUND]: {
    name: 'LINK_NOT_FOUND',
    retryable: false,
    meaning: 'No such link session.',
  },
  [ErrorCode.LINK_EXPIRED]: {
    name: 'LINK_EXPIRED',
    retryable: false,
    meaning: 'The link session expired; start a new one.',
  },
  [ErrorCode.LINK_ALREADY_USED]: {
    name: 'LINK_ALREADY_USED',
    retryable: false,
    meaning: 'The link session was already approved, completed or cancelled.',
  },
  [ErrorCode.BAD_SIGNATURE]: {
    name: 'BAD_SIGNATURE',
    retryable: false,
    meaning: 'A signature (prekey, device identity, device list) did not verify.',
  },
  [ErrorCode.INVALID_KEY]: {
    name: 'INVALID_KEY',
    retryable: false,
    meaning: 'A public key has the wrong length or is not a valid key.',
  },
  [ErrorCode.INVALID_ARGUMENT]: {
    name: 'INVALID_ARGUMENT',
    retryable: false,
    meaning: 'A field violates its rule (format, range, count, consistency); message names it.',
  },
  [ErrorCode.NOT_FOUND]: {
    name: 'NOT_FOUND',
    retryable: false,
    meaning: 'No such account or handle.',
  },
  [ErrorCode.ACCOUNT_EXISTS]: {
    name: 'ACCOUNT_EXISTS',
    retryable: false,
    meaning: 'The handle is already registered.',
  },
  [ErrorCode.CODE_INVALID]: {
    name: 'CODE_INVALID',
    retryable: false,
    meaning: 'The verification code is wrong.',
  },
  [ErrorCode.CODE_EXPIRED]: {
    name: 'CODE_EXPIRED',
    retryable: false,
    meaning: 'The verification code expired or was never requested; request a new one.',
  },
  [ErrorCode.TOO_MANY_ATTEMPTS]: {
    name: 'TOO_MANY_ATTEMPTS',
    retryable: true,
    meaning: 'Too many wrong codes; wait retry_after_ms, then request a new code.',
  },
  [ErrorCode.PAYLOAD_TOO_LARGE]: {
    name: 'PAYLOAD_TOO_LARGE',
    retryable: false,
    meaning: 'A payload exceeds its limit (history blob, bus message).',
  },
  [ErrorCode.BLOB_NOT_FOUND]: {
    name: 'BLOB_NOT_FOUND',
    retryable: false,
    meaning: 'No such history blob (never uploaded, already fetched, expired, or not for you).',
  },
  [ErrorCode.TIMEOUT]: {
    name: 'TIMEOUT',
    retryable: true,
    meaning: 'A backend service did not answer in time; the request may or may not have happened.',
  },
  [ErrorCode.UNAVAILABLE]: {
    name: 'UNAVAILABLE',
    retryable: true,
    meaning: 'A backend service is unavailable; retry with backoff.',
  },
  [ErrorCode.INTERNAL]: {
    name: 'INTERNAL',
    retryable: true,
    meaning: 'Unexpected server error; retry with backoff.',
  },
  [ErrorCode.CONFLICT]: {
    name: 'CONFLICT',
    retryable: false,
    meaning: 'The state changed concurrently (device list); fetch it again, then retry.',
  },
};

/** The enum value name without prefix ('BAD_FRAME'), or 'UNSPECIFIED' / 'UNKNOWN(<n>)'. */
export function errorCodeName(code: ErrorCode): string {
  if (code === ErrorCode.UNSPECIFIED) return 'UNSPECIFIED';
  return ERROR_CODE_INFO[code as KnownErrorCode]?.name ?? `UNKNOWN(${code})`;
}

/** Whether a request that failed with this code may succeed if sent again later. */
export function isRetryable(code: ErrorCode): boolean {
  if (code === ErrorCode.UNSPECIFIED) return false;
  return ERROR_CODE_INFO[code as KnownErrorCode]?.retryable ?? false;
}
