import { describe, expect, it } from '@jest/globals';
import {
  counterSignCompanion,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
} from '@tandem/crypto/device-signatures';
import { generateIdentity } from '@tandem/crypto/identity';
import { create, DeviceInfoSchema, type DeviceList, DeviceListSchema, Platform } from '@tandem/proto';
import { verifyServedList } from '../../src/client.js';
import { TandemError } from '../../src/errors.js';

const ACCOUNT = '0b7c5b9e-4f0e-4a47-9d1c-2f3b8b9a6e01';
const primary = generateIdentity();
const companion = generateIdentity();

function companionProof(signer = primary, device = companion, deviceId = 2) {
  const details = encodeDeviceIdentityDetails({
    accountId: ACCOUNT,
    deviceId,
    identityKey: device.publicKey,
    linkedAtMs: 1_750_000_000_000,
    keyIndex: 1,
  });
  const accountSignature = signCompanion(signer.secretKey, details);
  const deviceSignature = counterSignCompanion(device.secretKey, details, accountSignature, signer.publicKey);
  return { details, accountSignature, deviceSignature };
}

function servedList(
  opts: { listDevices?: Array<{ deviceId: number; identityKey: Uint8Array }>; extra?: boolean } = {},
): DeviceList {
  const signed = signDeviceList(primary.secretKey, {
    accountId: ACCOUNT,
    timestampMs: 1_750_000_000_000,
    listIndex: 3,
    devices: opts.listDevices ?? [
      { deviceId: 1, identityKey: primary.publicKey },
      { deviceId: 2, identityKey: companion.publicKey },
    ],
  });
  return create(DeviceListSchema, {
    accountId: ACCOUNT,
    primaryIdentityKey: primary.publicKey,
    devices: [
      { deviceId: 1, registrationId: 10, identityKey: primary.publicKey, platform: Platform.IOS },
      { deviceId: 2, registrationId: 20, identityKey: companion.publicKey, identity: companionProof() },
    ],
    signedList: { list: signed.listBytes, signature: signed.signature },
    nextDeviceId: 3,
  });
}

const untrusted = (fn: () => unknown, why: RegExp) => {
  expect(fn).toThrow(TandemError);
  try {
    fn();
  } catch (e) {
    expect((e as TandemError).code).toBe('UNTRUSTED_DEVICES');
    expect((e as TandemError).message).toMatch(why);
  }
};

describe('verifyServedList (the primary vouches for companions)', () => {
  it('accepts a list whose companions the primary signed and which counter-signed', () => {
    const r = verifyServedList(servedList());
    expect(r.listIndex).toBe(3);
    expect(r.devices.map((d) => d.deviceId)).toEqual([1, 2]);
    expect(r.nextDeviceId).toBe(3);
  });

  it('accepts a primary alone without a signed list', () => {
    const list = create(DeviceListSchema, {
      accountId: ACCOUNT,
      primaryIdentityKey: primary.publicKey,
      devices: [{ deviceId: 1, registrationId: 10, identityKey: primary.publicKey }],
      nextDeviceId: 2,
    });
    expect(verifyServedList(list).devices).toHaveLength(1);
  });

  it('refuses a device injected by the server with a proof signed by another key', () => {
    const rogue = generateIdentity();
    const intruder = generateIdentity();
    const list = servedList({
      listDevices: [
        { deviceId: 1, identityKey: primary.publicKey },
        { deviceId: 2, identityKey: companion.publicKey },
      ],
    });
    list.devices.push(
      create(DeviceInfoSchema, {
        deviceId: 3,
        registrationId: 30,
        identityKey: intruder.publicKey,
        identity: companionProof(rogue, intruder, 3),
      }),
    );
    untrusted(() => verifyServedList(list), /device 3 is not in the primary's signed list/);
  });

  it('refuses a companion in the signed list whose proof does not verify', () => {
    const list = servedList();
    const proof = list.devices[1]!.identity!;
    proof.accountSignature = proof.accountSignature.slice();
    proof.accountSignature[0]! ^= 1;
    untrusted(() => verifyServedList(list), /device 2 has no valid signature from the primary/);
  });

  it('refuses companions when there is no signed list at all', () => {
    const list = servedList();
    list.signedList = undefined;
    untrusted(() => verifyServedList(list), /companions without a signed device list/);
  });

  it('refuses a list signature that does not verify and a swapped primary key', () => {
    const tampered = servedList();
    tampered.signedList!.signature[5]! ^= 1;
    untrusted(() => verifyServedList(tampered), /list signature does not verify/);
    const swapped = servedList();
    swapped.primaryIdentityKey = generateIdentity().publicKey;
    untrusted(() => verifyServedList(swapped), /primary is missing or has another key/);
  });
});
