/**
 * The one error type of @tandem/crypto. Every failure of every public function is a CryptoError
 * with a stable `code`; callers branch on `code`, never on `message`.
 */

/** Stable error codes. Never renamed; new codes may be added. */
export type CryptoErrorCode =
  /** A public input has the wrong type, length or range; `parameter` names it. */
  | 'INVALID_ARGUMENT'
  /** A key is well-formed but unusable (X25519 low-order point, Ed25519 small-order point, ...). */
  | 'INVALID_KEY'
  /** A signature does not verify. */
  | 'BAD_SIGNATURE'
  /** Authenticated decryption failed (wrong key, tampered ciphertext or header). */
  | 'DECRYPT_FAILED'
  /** The message key for this message was already used: a duplicate or a replay. */
  | 'DUPLICATE_MESSAGE'
  /** Accepting the message would need more skipped message keys than allowed. */
  | 'TOO_MANY_SKIPPED'
  /** Bytes do not follow the expected encoding. */
  | 'BAD_FORMAT'
  /** The version byte (or text prefix) names a version this code does not know. */
  | 'UNSUPPORTED_VERSION'
  /** Input ended early: a short buffer, or a chunked stream missing its final chunk. */
  | 'TRUNCATED'
  /** An identity key differs from the one the caller expected for that device. */
  | 'IDENTITY_MISMATCH'
  /** A prekey message names a prekey the caller does not (or no longer) hold. */
  | 'MISSING_PREKEY'
  /** A normal message arrived for a device with no session. */
  | 'NO_SESSION'
  /** A device is not (validly) part of an account's signed device list. */
  | 'UNKNOWN_DEVICE'
  /** A SHA-256 digest does not match the expected one. */
  | 'HASH_MISMATCH';

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  /** Stable machine-readable code. */
  readonly code: CryptoErrorCode;
  /** For INVALID_ARGUMENT: the parameter at fault (dotted path, e.g. `bundle.signedPrekey.publicKey`). */
  readonly parameter: string | undefined;

  constructor(code: CryptoErrorCode, message: string, options: { cause?: unknown; parameter?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.parameter = options.parameter;
  }
}

/** True when `error` is a CryptoError (optionally with the given code). */
export function isCryptoError(error: unknown, code?: CryptoErrorCode): error is CryptoError {
  return error instanceof CryptoError && (code === undefined || error.code === code);
}

/** INVALID_ARGUMENT naming the parameter. */
export function invalidArgument(parameter: string, reason: string, cause?: unknown): CryptoError {
  return new CryptoError('INVALID_ARGUMENT', `${parameter} ${reason}`, { parameter, cause });
}
