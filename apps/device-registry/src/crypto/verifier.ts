/**
 * The signature checks and decodings the registry needs, behind one interface so the services
 * stay pure (tests can inject a fake) and the implementation is @tandem/crypto's.
 */
import type { DeviceIdentity, PqPrekeyInput, SignedDeviceList, SignedPrekeyInput } from '../domain/types.js';

/** What a signed device list says, once its signature checked out. */
export interface DeviceListContent {
  accountId: string;
  /** Monotonic list index chosen by the primary. */
  version: bigint;
  devices: { deviceId: number; identityKey: Uint8Array }[];
}

/** What the DeviceIdentity details name. */
export interface IdentityDetails {
  accountId: string;
  deviceId: number;
}

export interface RegistryCrypto {
  verifySignedPrekey(identityKey: Uint8Array, prekey: SignedPrekeyInput): boolean;
  verifyPqPrekey(identityKey: Uint8Array, prekey: PqPrekeyInput, lastResort: boolean): boolean;
  /** FIPS 203 §7.2 modulus check of an ML-KEM-768 encapsulation key. */
  validPqPublicKey(publicKey: Uint8Array): boolean;
  /** The primary's account signature (ADV 0x0600) over the companion's identity. */
  verifyAccountSignature(primaryKey: Uint8Array, companionKey: Uint8Array, identity: DeviceIdentity): boolean;
  /** The companion's counter-signature (ADV 0x0601). */
  verifyDeviceSignature(companionKey: Uint8Array, primaryKey: Uint8Array, identity: DeviceIdentity): boolean;
  /** The decoded details, or null when they are not canonical. */
  decodeDetails(details: Uint8Array): IdentityDetails | null;
  /**
   * The list's content when the primary's signature (ADV 0x0602) verifies and the bytes are a
   * canonical list whose device 1 is the primary; otherwise why not.
   */
  openDeviceList(
    primaryKey: Uint8Array,
    signed: SignedDeviceList,
  ): DeviceListContent | 'BAD_SIGNATURE' | 'MALFORMED';
}
