/**
 * RegistryCrypto on @tandem/crypto. Two implementations with the same accept/reject set:
 *
 * - `pureRegistryCrypto`: crypto's own portable checks (prekeys, device-signatures, identity).
 * - `tandemRegistryCrypto` (the default): the same signed messages, each `prefix || message` as
 *   documented in @tandem/crypto/prefixes, verified with `@tandem/crypto/node`'s OpenSSL fast
 *   path (~15x faster; a 100-key PQ upload is 100 verifications). test/unit/crypto.test.ts checks
 *   both agree on valid and tampered signatures made by crypto's signing functions.
 *
 * Decoding of details and device lists is always crypto's. Malformed input never throws out of
 * here: it is "does not verify" (or MALFORMED for a device list), and the services turn that into
 * BAD_SIGNATURE / INVALID_ARGUMENT.
 */
import {
  decodeDeviceIdentityDetails,
  decodeDeviceList,
  verifyCompanion,
  verifyDeviceList,
} from '@tandem/crypto/device-signatures';
import { verify } from '@tandem/crypto/identity';
import { verifyEd25519 } from '@tandem/crypto/node';
import {
  ADV_ACCOUNT_SIGNATURE_PREFIX,
  ADV_DEVICE_LIST_PREFIX,
  ADV_DEVICE_SIGNATURE_PREFIX,
  PQ_PREKEY_PREFIX,
  SIGNED_PREKEY_PREFIX,
} from '@tandem/crypto/prefixes';
import { mlKemModulusCheck, verifyPqPrekey, verifySignedPrekey } from '@tandem/crypto/prekeys';
import type { DeviceIdentity, PqPrekeyInput, SignedDeviceList, SignedPrekeyInput } from '../domain/types.js';
import type { DeviceListContent, IdentityDetails, RegistryCrypto } from './verifier.js';

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Runs a check; any CryptoError (malformed input) counts as a failed check. */
function attempt<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

const details = (bytes: Uint8Array) => attempt(() => decodeDeviceIdentityDetails(bytes), null);

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const u32be = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const fast = (key: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
  attempt(() => verifyEd25519(key, message, signature), false);

function openList(
  primaryKey: Uint8Array,
  signed: SignedDeviceList,
  verified: boolean,
): DeviceListContent | 'BAD_SIGNATURE' | 'MALFORMED' {
  if (!verified) return 'BAD_SIGNATURE';
  const list = attempt(() => decodeDeviceList(signed.list), null);
  // Device 1 of a list must be the primary itself.
  if (!list || !equal(list.devices[0]!.identityKey, primaryKey)) return 'MALFORMED';
  return { accountId: list.accountId, version: BigInt(list.listIndex), devices: list.devices };
}

/** The default: OpenSSL verification of crypto's documented signed messages. */
export const tandemRegistryCrypto: RegistryCrypto = {
  /** SIGNED_PREKEY_PREFIX || u32be id || publicKey. */
  verifySignedPrekey(identityKey: Uint8Array, k: SignedPrekeyInput): boolean {
    return fast(identityKey, concat(SIGNED_PREKEY_PREFIX, u32be(k.id), k.publicKey), k.signature);
  },
  /** PQ_PREKEY_PREFIX || u32be id || u8 lastResort || publicKey. */
  verifyPqPrekey(identityKey: Uint8Array, k: PqPrekeyInput, lastResort: boolean): boolean {
    return fast(
      identityKey,
      concat(PQ_PREKEY_PREFIX, u32be(k.id), Uint8Array.of(lastResort ? 1 : 0), k.publicKey),
      k.signature,
    );
  },
  validPqPublicKey: (publicKey: Uint8Array) => attempt(() => mlKemModulusCheck(publicKey), false),
  /** ADV 0x0600 || details || companionKey, for details naming the companion. */
  verifyAccountSignature(primaryKey: Uint8Array, companionKey: Uint8Array, id: DeviceIdentity): boolean {
    const d = details(id.details);
    if (!d || !equal(d.identityKey, companionKey)) return false;
    return fast(
      primaryKey,
      concat(ADV_ACCOUNT_SIGNATURE_PREFIX, id.details, companionKey),
      id.accountSignature,
    );
  },
  /** Both ADV signatures: 0x0600 by the primary and 0x0601 || details || companionKey || primaryKey by the companion. */
  verifyDeviceSignature(companionKey: Uint8Array, primaryKey: Uint8Array, id: DeviceIdentity): boolean {
    return (
      tandemRegistryCrypto.verifyAccountSignature(primaryKey, companionKey, id) &&
      fast(
        companionKey,
        concat(ADV_DEVICE_SIGNATURE_PREFIX, id.details, companionKey, primaryKey),
        id.deviceSignature,
      )
    );
  },
  decodeDetails(bytes: Uint8Array): IdentityDetails | null {
    const d = details(bytes);
    return d && { accountId: d.accountId, deviceId: d.deviceId };
  },
  /** ADV 0x0602 || list. */
  openDeviceList(primaryKey: Uint8Array, signed: SignedDeviceList) {
    return openList(
      primaryKey,
      signed,
      fast(primaryKey, concat(ADV_DEVICE_LIST_PREFIX, signed.list), signed.signature),
    );
  },
};

/** Crypto's portable checks, unchanged. */
export const pureRegistryCrypto: RegistryCrypto = {
  verifySignedPrekey(identityKey: Uint8Array, k: SignedPrekeyInput): boolean {
    return attempt(() => verifySignedPrekey(identityKey, k), false);
  },

  verifyPqPrekey(identityKey: Uint8Array, k: PqPrekeyInput, lastResort: boolean): boolean {
    return attempt(() => verifyPqPrekey(identityKey, { ...k, lastResort }), false);
  },
  validPqPublicKey: (publicKey: Uint8Array) => attempt(() => mlKemModulusCheck(publicKey), false),

  /**
   * accountSignature = Ed25519(primary, 0x06 0x00 || details || companionIdentityKey), and the
   * details must name the companion's key. (@tandem/crypto checks this inside counterSignCompanion
   * and verifyCompanion; the registry needs it alone, before the companion has counter-signed.)
   */
  verifyAccountSignature(primaryKey: Uint8Array, companionKey: Uint8Array, id: DeviceIdentity): boolean {
    const d = details(id.details);
    if (!d || !equal(d.identityKey, companionKey)) return false;
    const message = new Uint8Array(id.details.length + companionKey.length);
    message.set(id.details);
    message.set(companionKey, id.details.length);
    return attempt(
      () => verify(primaryKey, ADV_ACCOUNT_SIGNATURE_PREFIX, message, id.accountSignature),
      false,
    );
  },

  /** Both ADV signatures (crypto's verifyCompanion), for details naming this companion. */
  verifyDeviceSignature(companionKey: Uint8Array, primaryKey: Uint8Array, id: DeviceIdentity): boolean {
    const d = details(id.details);
    if (!d || !equal(d.identityKey, companionKey)) return false;
    return attempt(() => verifyCompanion(primaryKey, id), false);
  },

  decodeDetails(bytes: Uint8Array): IdentityDetails | null {
    const d = details(bytes);
    return d && { accountId: d.accountId, deviceId: d.deviceId };
  },

  openDeviceList(primaryKey: Uint8Array, signed: SignedDeviceList) {
    return openList(
      primaryKey,
      signed,
      attempt(() => verifyDeviceList(primaryKey, signed.list, signed.signature), false),
    );
  },
};
