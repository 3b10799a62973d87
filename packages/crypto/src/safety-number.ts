/**
 * Safety numbers for multi-device accounts, after Signal's NumericFingerprintGenerator (version 0,
 * 5200 iterations of SHA-512): each side's fingerprint covers all of its devices' identity keys,
 * sorted, so the result does not depend on device order; the two 30-digit halves are put in
 * ascending order so both parties compute the same 60 digits.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { invalidArgument } from './errors.js';
import { PUBLIC_KEY_LENGTH } from './identity.js';
import { SAFETY_NUMBER_VERSION } from './prefixes.js';
import {
  accountIdToBytes,
  assertArray,
  assertBytes,
  assertObject,
  bytesToHex,
  concatBytes,
} from './utils.js';

export const SAFETY_NUMBER_ITERATIONS = 5200;
const MAX_KEYS = 64;

export interface SafetyNumberParty {
  accountId: string;
  /** Identity keys of all the account's devices, any order. */
  identityKeys: Uint8Array[];
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** 30 digits for one party: iterated SHA-512 over the sorted keys and the account id. */
export function fingerprintDigits(party: SafetyNumberParty, parameter = 'party'): string {
  assertObject(parameter, party);
  const stableId = new TextEncoder().encode(party.accountId);
  accountIdToBytes(`${parameter}.accountId`, party.accountId);
  assertArray(`${parameter}.identityKeys`, party.identityKeys);
  if (party.identityKeys.length < 1 || party.identityKeys.length > MAX_KEYS) {
    throw invalidArgument(`${parameter}.identityKeys`, `must hold 1..${MAX_KEYS} keys`);
  }
  party.identityKeys.forEach((k, i) => {
    assertBytes(`${parameter}.identityKeys[${i}]`, k, PUBLIC_KEY_LENGTH);
  });
  const sorted = [...party.identityKeys].sort(compareBytes);
  if (new Set(sorted.map(bytesToHex)).size !== sorted.length) {
    throw invalidArgument(`${parameter}.identityKeys`, 'has a duplicate key');
  }
  const keys = concatBytes(...sorted);
  // Signal: hash = SHA-512(version || key || stableId); repeat: hash = SHA-512(hash || key).
  let hash = sha512(concatBytes(SAFETY_NUMBER_VERSION, keys, stableId));
  const buf = new Uint8Array(64 + keys.length);
  buf.set(keys, 64);
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) {
    buf.set(hash, 0);
    hash = sha512(buf);
  }
  // Six 5-byte big-endian chunks, each mod 100000, as 5 zero-padded digits.
  let digits = '';
  for (let c = 0; c < 6; c++) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + hash[c * 5 + j]!;
    digits += String(v % 100000).padStart(5, '0');
  }
  return digits;
}

/** The 60-digit safety number both parties see. */
export function safetyNumber(local: SafetyNumberParty, remote: SafetyNumberParty): string {
  const a = fingerprintDigits(local, 'local');
  const b = fingerprintDigits(remote, 'remote');
  return a <= b ? a + b : b + a;
}

/** "12345 67890 ..." — twelve groups of five digits for display. */
export function formatSafetyNumber(digits: string): string {
  if (typeof digits !== 'string' || !/^[0-9]{60}$/.test(digits))
    throw invalidArgument('digits', 'must be 60 digits');
  return digits.match(/.{5}/g)!.join(' ');
}
