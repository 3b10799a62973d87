import { describe, expect, it } from '@jest/globals';
import {
  generateOneTimePrekeys,
  generatePqPrekeys,
  generateSignedPrekey,
  mlKemModulusCheck,
  verifyPqPrekey,
  verifyPrekeyBundle,
  verifySignedPrekey,
} from '../../src/prekeys.js';
import { ALICE, bundleOf, expectCryptoError, fromHex, makeDevice } from '../helpers.js';

describe('prekeys', () => {
  const dev = makeDevice(ALICE, 1);

  it('signs signed prekeys and PQ prekeys (id and last-resort flag covered)', () => {
    const spk = dev.signedPrekey;
    expect(verifySignedPrekey(dev.identity.publicKey, spk)).toBe(true);
    expect(verifySignedPrekey(dev.identity.publicKey, { ...spk, id: spk.id + 1 })).toBe(false);
    const pq = [...dev.pqPrekeys.values()][0]!;
    expect(pq.lastResort).toBe(true);
    expect(pq.publicKey.length).toBe(1184);
    expect(verifyPqPrekey(dev.identity.publicKey, pq)).toBe(true);
    expect(verifyPqPrekey(dev.identity.publicKey, { ...pq, lastResort: false })).toBe(false);
    const batch = generatePqPrekeys(dev.identity.secretKey, 50, 2);
    expect(batch.map((k) => [k.id, k.lastResort])).toEqual([
      [50, false],
      [51, false],
    ]);
    expect(generateOneTimePrekeys(10, 3).map((k) => k.id)).toEqual([10, 11, 12]);
    expect(mlKemModulusCheck(pq.publicKey)).toBe(true);
  });

  it('accepts a valid bundle, with and without a one-time prekey', () => {
    expect(() => verifyPrekeyBundle(bundleOf(dev))).not.toThrow();
    expect(() => verifyPrekeyBundle(bundleOf(dev, false))).not.toThrow();
  });

  it('rejects bad signatures and malformed or low-order keys', () => {
    const b = bundleOf(dev);
    const flipped = b.signedPrekey.signature.slice();
    flipped[5]! ^= 1;
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, signedPrekey: { ...b.signedPrekey, signature: flipped } }),
      'BAD_SIGNATURE',
    );
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, pqPrekey: { ...b.pqPrekey, lastResort: false } }),
      'BAD_SIGNATURE',
    );
    const other = generateSignedPrekey(makeDevice(ALICE, 2).identity.secretKey, 7);
    expectCryptoError(() => verifyPrekeyBundle({ ...b, signedPrekey: other }), 'BAD_SIGNATURE');
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, signedPrekey: { ...b.signedPrekey, publicKey: new Uint8Array(32) } }),
      'INVALID_KEY',
      'bundle.signedPrekey.publicKey',
    );
    const order8 = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, oneTimePrekey: { id: 1, publicKey: order8 } }),
      'INVALID_KEY',
      'bundle.oneTimePrekey.publicKey',
    );
    const badPq = b.pqPrekey.publicKey.slice();
    badPq[0] = 0xff;
    badPq[1] = 0xff; // coefficient 4095 >= q
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, pqPrekey: { ...b.pqPrekey, publicKey: badPq } }),
      'INVALID_KEY',
    );
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, signedPrekey: { ...b.signedPrekey, publicKey: new Uint8Array(33) } }),
      'INVALID_ARGUMENT',
      'bundle.signedPrekey.publicKey',
    );
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, pqPrekey: { ...b.pqPrekey, publicKey: new Uint8Array(1183) } }),
      'INVALID_ARGUMENT',
      'bundle.pqPrekey.publicKey',
    );
    expectCryptoError(() => verifyPrekeyBundle({ ...b, deviceId: 0 }), 'INVALID_ARGUMENT', 'bundle.deviceId');
    expectCryptoError(
      () => verifyPrekeyBundle({ ...b, registrationId: -1 }),
      'INVALID_ARGUMENT',
      'bundle.registrationId',
    );
    expectCryptoError(() => generateSignedPrekey(dev.identity.secretKey, 2 ** 32), 'INVALID_ARGUMENT', 'id');
    expectCryptoError(() => generateOneTimePrekeys(0, 5000), 'INVALID_ARGUMENT', 'count');
  });
});
