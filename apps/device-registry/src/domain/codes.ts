import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** A fresh 6-digit verification code. */
export const generateCode = (): string => randomInt(0, 1_000_000).toString().padStart(6, '0');

export const generateSalt = (): Uint8Array => new Uint8Array(randomBytes(16));

/** What is stored instead of the code: sha256(salt || code). */
export function hashCode(salt: Uint8Array, code: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(salt).update(code, 'utf8').digest());
}

/** Constant-time comparison of a guess against the stored hash. */
export function codeMatches(salt: Uint8Array, codeHash: Uint8Array, guess: string): boolean {
  const candidate = hashCode(salt, guess);
  return candidate.length === codeHash.length && timingSafeEqual(candidate, codeHash);
}
