/**
 * Key material and signatures made exactly as a device makes them, with @tandem/crypto: the
 * registry's checks are tested against the real client-side constructions.
 */
import { randomBytes } from 'node:crypto';
import {
  counterSignCompanion,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
} from '@tandem/crypto/device-signatures';
import { generateIdentity, type IdentityKeyPair } from '@tandem/crypto/identity';
import { generateOneTimePrekeys, generatePqPrekey, generateSignedPrekey } from '@tandem/crypto/prekeys';

export const rand = (n: number) => new Uint8Array(randomBytes(n));

export interface KeySet {
  signedPrekey: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  oneTimePrekeys: { id: number; publicKey: Uint8Array }[];
  pqPrekeys: { id: number; publicKey: Uint8Array; signature: Uint8Array }[];
  pqLastResortPrekey: { id: number; publicKey: Uint8Array; signature: Uint8Array };
}

export class DeviceKeys {
  readonly identity: IdentityKeyPair = generateIdentity();
  readonly registrationId = 1 + Math.floor(Math.random() * 16000);
  readonly ephemeralKey = rand(32);

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  signedPrekey(id: number) {
    const k = generateSignedPrekey(this.identity.secretKey, id);
    return { id: k.id, publicKey: k.publicKey, signature: k.signature };
  }

  oneTimePrekeys(startId: number, count: number) {
    return generateOneTimePrekeys(startId, count).map((k) => ({ id: k.id, publicKey: k.publicKey }));
  }

  pqPrekey(id: number, lastResort: boolean) {
    const k = generatePqPrekey(this.identity.secretKey, id, lastResort);
    return { id: k.id, publicKey: k.publicKey, signature: k.signature };
  }

  keySet(oneTime = 10, pq = 5): KeySet {
    return {
      signedPrekey: this.signedPrekey(1),
      oneTimePrekeys: this.oneTimePrekeys(1, oneTime),
      pqPrekeys: Array.from({ length: pq }, (_, i) => this.pqPrekey(i + 1, false)),
      pqLastResortPrekey: this.pqPrekey(1000, true),
    };
  }

  /** As the primary: the details and account signature vouching for a companion. */
  vouchFor(accountId: string, deviceId: number, companionKey: Uint8Array, keyIndex = deviceId) {
    const details = encodeDeviceIdentityDetails({
      accountId,
      deviceId,
      identityKey: companionKey,
      linkedAtMs: Date.now(),
      keyIndex,
    });
    return {
      details,
      accountSignature: signCompanion(this.identity.secretKey, details),
      deviceSignature: new Uint8Array(0),
    };
  }

  /** As the companion: the counter-signature over the primary's vouching. */
  counterSign(identity: { details: Uint8Array; accountSignature: Uint8Array }, primaryKey: Uint8Array) {
    return {
      details: identity.details,
      accountSignature: identity.accountSignature,
      deviceSignature: counterSignCompanion(
        this.identity.secretKey,
        identity.details,
        identity.accountSignature,
        primaryKey,
      ),
    };
  }

  /** As the primary: a signed device list. */
  signList(accountId: string, listIndex: number, devices: { deviceId: number; identityKey: Uint8Array }[]) {
    const { listBytes, signature } = signDeviceList(this.identity.secretKey, {
      accountId,
      timestampMs: Date.now(),
      listIndex,
      devices,
    });
    return { list: listBytes, signature };
  }
}
