/** The fields a device signs to answer the challenge (packages/crypto's AuthChallengeFields). */
export interface AuthChallengeFields {
  realm: string;
  nonce: Uint8Array;
  timestampMs: number;
  accountId: string;
  deviceId: number;
}

/** Checks challenge signatures; production uses @tandem/crypto/node's OpenSSL fast path. */
export interface SignatureVerifier {
  /** False for a wrong signature and for malformed inputs (never throws). */
  verifyAuthChallenge(identityKey: Uint8Array, fields: AuthChallengeFields, signature: Uint8Array): boolean;
}
