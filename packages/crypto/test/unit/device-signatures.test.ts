import { describe, expect, it } from '@jest/globals';
import {
  counterSignCompanion,
  type DeviceIdentityDetails,
  decodeDeviceIdentityDetails,
  decodeDeviceList,
  encodeDeviceIdentityDetails,
  encodeDeviceList,
  signCompanion,
  signDeviceList,
  verifyAccountDevices,
  verifyCompanion,
  verifyDeviceList,
} from '../../src/device-signatures.js';
import { generateIdentity } from '../../src/identity.js';
import { ALICE, expectCryptoError } from '../helpers.js';

const primary = generateIdentity();
const companions = [2, 3].map((deviceId) => ({ deviceId, identity: generateIdentity() }));

function proofFor(c: (typeof companions)[number], keyIndex: number) {
  const details: DeviceIdentityDetails = {
    accountId: ALICE,
    deviceId: c.deviceId,
    identityKey: c.identity.publicKey,
    linkedAtMs: 1_700_000_000_000 + keyIndex,
    keyIndex,
  };
  const bytes = encodeDeviceIdentityDetails(details);
  const accountSignature = signCompanion(primary.secretKey, details);
  const deviceSignature = counterSignCompanion(
    c.identity.secretKey,
    bytes,
    accountSignature,
    primary.publicKey,
  );
  return { details: bytes, accountSignature, deviceSignature };
}

const list = () => ({
  accountId: ALICE,
  timestampMs: 1_700_000_000_500,
  listIndex: 3,
  devices: [
    { deviceId: 3, identityKey: companions[1]!.identity.publicKey },
    { deviceId: 1, identityKey: primary.publicKey },
    { deviceId: 2, identityKey: companions[0]!.identity.publicKey },
  ],
});

describe('Account Device Verification', () => {
  it('encodes details canonically and round-trips them', () => {
    const p = proofFor(companions[0]!, 1);
    expect(p.details.length).toBe(65);
    expect(encodeDeviceIdentityDetails(decodeDeviceIdentityDetails(p.details))).toEqual(p.details);
  });

  it('verifies both signatures of a companion and rejects a swap', () => {
    const p = proofFor(companions[0]!, 1);
    expect(verifyCompanion(primary.publicKey, p)).toBe(true);
    expect(verifyCompanion(companions[1]!.identity.publicKey, p)).toBe(false);
    expect(verifyCompanion(primary.publicKey, { ...p, deviceSignature: p.accountSignature })).toBe(false);
    const tampered = p.details.slice();
    tampered[20]! ^= 1;
    expect(verifyCompanion(primary.publicKey, { ...p, details: tampered })).toBe(false);
  });

  it('the companion refuses to counter-sign a bad account signature or foreign details', () => {
    const p = proofFor(companions[0]!, 1);
    const bad = p.accountSignature.slice();
    bad[0]! ^= 1;
    expectCryptoError(
      () => counterSignCompanion(companions[0]!.identity.secretKey, p.details, bad, primary.publicKey),
      'BAD_SIGNATURE',
    );
    expectCryptoError(
      () =>
        counterSignCompanion(
          companions[1]!.identity.secretKey,
          p.details,
          p.accountSignature,
          primary.publicKey,
        ),
      'IDENTITY_MISMATCH',
    );
  });

  it('signs a canonical device list (sorted by device id)', () => {
    const { listBytes, signature } = signDeviceList(primary.secretKey, list());
    expect(verifyDeviceList(primary.publicKey, listBytes, signature)).toBe(true);
    expect(decodeDeviceList(listBytes).devices.map((d) => d.deviceId)).toEqual([1, 2, 3]);
    expect(encodeDeviceList(decodeDeviceList(listBytes))).toEqual(listBytes);
    expectCryptoError(
      () => encodeDeviceList({ ...list(), devices: [{ deviceId: 2, identityKey: primary.publicKey }] }),
      'INVALID_ARGUMENT',
      'list.devices',
    );
  });

  it('verifyAccountDevices accepts exactly the signed set and rejects anything else', () => {
    const { listBytes, signature } = signDeviceList(primary.secretKey, list());
    const proofs = [proofFor(companions[0]!, 1), proofFor(companions[1]!, 2)];
    expect(verifyAccountDevices(primary.publicKey, listBytes, signature, proofs).devices).toHaveLength(3);
    // missing proof for a listed companion
    expectCryptoError(
      () => verifyAccountDevices(primary.publicKey, listBytes, signature, proofs.slice(0, 1)),
      'UNKNOWN_DEVICE',
    );
    // a companion the primary did not sign (a server-inserted device)
    const intruder = generateIdentity();
    const fake = { ...proofFor({ deviceId: 4, identity: intruder }, 3) };
    expectCryptoError(
      () => verifyAccountDevices(primary.publicKey, listBytes, signature, [...proofs, fake]),
      'UNKNOWN_DEVICE',
    );
    // a device in a list the primary did not sign
    const forged = signDeviceList(intruder.secretKey, list());
    expectCryptoError(
      () => verifyAccountDevices(primary.publicKey, forged.listBytes, forged.signature, proofs),
      'BAD_SIGNATURE',
    );
    // a proof with a broken device signature
    const broken = { ...proofs[1]!, deviceSignature: proofs[0]!.deviceSignature };
    expectCryptoError(
      () => verifyAccountDevices(primary.publicKey, listBytes, signature, [proofs[0]!, broken]),
      'BAD_SIGNATURE',
    );
  });
});
