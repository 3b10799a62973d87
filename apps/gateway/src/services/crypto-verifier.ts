import { verifyAuthChallengeFast } from '@tandem/crypto/node';
import type { AuthChallengeFields, SignatureVerifier } from './signature-verifier.js';

/**
 * Challenge verification on @tandem/crypto's Node fast path (OpenSSL Ed25519, ~15x the pure-JS
 * verifier; same accept/reject set). Malformed inputs (a key of the wrong length, an account id
 * that is not a UUID) are a `false`, never a throw.
 */
export class CryptoSignatureVerifier implements SignatureVerifier {
  verifyAuthChallenge(identityKey: Uint8Array, fields: AuthChallengeFields, signature: Uint8Array): boolean {
    try {
      return verifyAuthChallengeFast(identityKey, fields, signature);
    } catch {
      return false;
    }
  }
}
