import { describe, expect, it } from '@jest/globals';
import { pureRegistryCrypto, tandemRegistryCrypto } from '../../src/crypto/tandem-crypto.js';
import { DeviceKeys } from '../helpers/keys.js';

const ACCOUNT = '6f1c2a3b-4d5e-4f60-8172-8394a5b6c7d8';
const flip = (b: Uint8Array, i = 0) => {
  const c = new Uint8Array(b);
  c[i]! ^= 1;
  return c;
};

describe('registry signature checks (OpenSSL fast path vs @tandem/crypto pure)', () => {
  const primary = new DeviceKeys();
  const companion = new DeviceKeys();
  const other = new DeviceKeys();
  const spk = primary.signedPrekey(7);
  const pq = primary.pqPrekey(8, false);
  const lastResort = primary.pqPrekey(9, true);
  const vouch = primary.vouchFor(ACCOUNT, 2, companion.publicKey);
  const proof = companion.counterSign(vouch, primary.publicKey);
  const list = primary.signList(ACCOUNT, 3, [
    { deviceId: 1, identityKey: primary.publicKey },
    { deviceId: 2, identityKey: companion.publicKey },
  ]);

  const cases: [string, (c: typeof tandemRegistryCrypto) => unknown, boolean][] = [
    ['signed prekey', (c) => c.verifySignedPrekey(primary.publicKey, spk), true],
    ['signed prekey, other id', (c) => c.verifySignedPrekey(primary.publicKey, { ...spk, id: 8 }), false],
    [
      'signed prekey, tampered key',
      (c) => c.verifySignedPrekey(primary.publicKey, { ...spk, publicKey: flip(spk.publicKey) }),
      false,
    ],
    ['signed prekey, other identity', (c) => c.verifySignedPrekey(other.publicKey, spk), false],
    [
      'signed prekey, short signature',
      (c) => c.verifySignedPrekey(primary.publicKey, { ...spk, signature: spk.signature.slice(1) }),
      false,
    ],
    ['PQ one-time prekey', (c) => c.verifyPqPrekey(primary.publicKey, pq, false), true],
    [
      'PQ one-time prekey claimed as last resort',
      (c) => c.verifyPqPrekey(primary.publicKey, pq, true),
      false,
    ],
    ['PQ last-resort prekey', (c) => c.verifyPqPrekey(primary.publicKey, lastResort, true), true],
    [
      'PQ prekey, tampered signature',
      (c) => c.verifyPqPrekey(primary.publicKey, { ...pq, signature: flip(pq.signature, 5) }, false),
      false,
    ],
    [
      'account signature',
      (c) => c.verifyAccountSignature(primary.publicKey, companion.publicKey, vouch),
      true,
    ],
    [
      'account signature, other companion',
      (c) => c.verifyAccountSignature(primary.publicKey, other.publicKey, vouch),
      false,
    ],
    [
      'account signature, other primary',
      (c) => c.verifyAccountSignature(other.publicKey, companion.publicKey, vouch),
      false,
    ],
    [
      'account signature, tampered details',
      (c) =>
        c.verifyAccountSignature(primary.publicKey, companion.publicKey, {
          ...vouch,
          details: flip(vouch.details, 60),
        }),
      false,
    ],
    ['device signature', (c) => c.verifyDeviceSignature(companion.publicKey, primary.publicKey, proof), true],
    [
      'device signature, other primary',
      (c) => c.verifyDeviceSignature(companion.publicKey, other.publicKey, proof),
      false,
    ],
    [
      'device signature, tampered',
      (c) =>
        c.verifyDeviceSignature(companion.publicKey, primary.publicKey, {
          ...proof,
          deviceSignature: flip(proof.deviceSignature),
        }),
      false,
    ],
    [
      'device signature, missing',
      (c) => c.verifyDeviceSignature(companion.publicKey, primary.publicKey, vouch),
      false,
    ],
    ['device list', (c) => typeof c.openDeviceList(primary.publicKey, list) === 'object', true],
    ['device list, other primary', (c) => c.openDeviceList(other.publicKey, list) === 'BAD_SIGNATURE', true],
    [
      'device list, tampered',
      (c) => c.openDeviceList(primary.publicKey, { ...list, list: flip(list.list, 40) }) === 'BAD_SIGNATURE',
      true,
    ],
  ];

  it.each(cases)('%s', (_name, check, expected) => {
    expect(check(tandemRegistryCrypto)).toBe(expected);
    expect(check(pureRegistryCrypto)).toBe(expected);
  });

  it('decodes the device list and the details with crypto', () => {
    const content = tandemRegistryCrypto.openDeviceList(primary.publicKey, list);
    expect(content).toMatchObject({ accountId: ACCOUNT, version: 3n });
    expect(typeof content === 'object' && content.devices.map((d) => d.deviceId)).toEqual([1, 2]);
    expect(tandemRegistryCrypto.decodeDetails(vouch.details)).toEqual({ accountId: ACCOUNT, deviceId: 2 });
    expect(tandemRegistryCrypto.decodeDetails(new Uint8Array(10))).toBeNull();
  });

  it('calls a well-signed list whose device 1 is not the signer MALFORMED', () => {
    const forged = other.signList(ACCOUNT, 1, [{ deviceId: 1, identityKey: primary.publicKey }]);
    expect(tandemRegistryCrypto.openDeviceList(other.publicKey, forged)).toBe('MALFORMED');
  });
});
