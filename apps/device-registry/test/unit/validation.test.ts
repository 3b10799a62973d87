import { describe, expect, it } from '@jest/globals';
import { InvalidArgumentError, InvalidKeyError } from '../../src/domain/errors.js';
import * as v from '../../src/domain/validation.js';

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const pq = (id: number) => ({ id, publicKey: bytes(1184), signature: bytes(64) });
const full = () => ({
  signedPrekey: { id: 1, publicKey: bytes(32), signature: bytes(64) },
  oneTimePrekeys: [{ id: 1, publicKey: bytes(32) }],
  pqPrekeys: [pq(1)],
  pqLastResortPrekey: pq(2),
});

describe('input validation', () => {
  it('accepts a well-formed full key set', () => {
    expect(v.fullPrekeySet(full()).oneTimePrekeys).toHaveLength(1);
  });

  it.each([
    [
      'signed prekey of 31 bytes',
      { signedPrekey: { id: 1, publicKey: bytes(31), signature: bytes(64) } },
      InvalidKeyError,
      'signedPrekey.publicKey',
    ],
    [
      'one-time key of 33 bytes',
      { oneTimePrekeys: [{ id: 1, publicKey: bytes(33) }] },
      InvalidKeyError,
      'oneTimePrekeys[0].publicKey',
    ],
    [
      'PQ key of 1183 bytes',
      { pqPrekeys: [{ id: 1, publicKey: bytes(1183), signature: bytes(64) }] },
      InvalidKeyError,
      'pqPrekeys[0].publicKey',
    ],
    [
      'short signature',
      { signedPrekey: { id: 1, publicKey: bytes(32), signature: bytes(63) } },
      InvalidArgumentError,
      'signedPrekey.signature',
    ],
    [
      'key id 0',
      { oneTimePrekeys: [{ id: 0, publicKey: bytes(32) }] },
      InvalidArgumentError,
      'oneTimePrekeys[0].id',
    ],
    [
      'duplicate one-time ids',
      {
        oneTimePrekeys: [
          { id: 5, publicKey: bytes(32) },
          { id: 5, publicKey: bytes(32) },
        ],
      },
      InvalidArgumentError,
      'oneTimePrekeys',
    ],
    [
      '101 one-time keys',
      { oneTimePrekeys: Array.from({ length: 101 }, (_, i) => ({ id: i + 1, publicKey: bytes(32) })) },
      InvalidArgumentError,
      'oneTimePrekeys',
    ],
    [
      'last resort id shared with a one-time PQ key',
      { pqLastResortPrekey: pq(1) },
      InvalidArgumentError,
      'pqLastResortPrekey.id',
    ],
    ['missing last resort', { pqLastResortPrekey: undefined }, InvalidArgumentError, 'pqLastResortPrekey'],
  ])('rejects a %s naming the field', (_name, patch, type, field) => {
    const attempt = () => v.fullPrekeySet({ ...full(), ...patch });
    expect(attempt).toThrow(type);
    try {
      attempt();
    } catch (err) {
      expect((err as InvalidArgumentError).field).toBe(field);
    }
  });

  it('requires at least one key in a partial upload', () => {
    expect(() => v.partialPrekeyUpload({ oneTimePrekeys: [], pqPrekeys: [] })).toThrow(/at least one key/);
    expect(
      v.partialPrekeyUpload({ oneTimePrekeys: [{ id: 9, publicKey: bytes(32) }], pqPrekeys: [] })
        .oneTimePrekeys,
    ).toHaveLength(1);
  });

  it('checks handles, codes, names and ids', () => {
    expect(v.handle('+4915112345678')).toBe('+4915112345678');
    expect(v.handle('alice_1')).toBe('alice_1');
    expect(() => v.handle('Alice')).toThrow(InvalidArgumentError);
    expect(() => v.handle('+0123')).toThrow(InvalidArgumentError);
    expect(() => v.verificationCode('12345')).toThrow(InvalidArgumentError);
    expect(() => v.deviceName('tab\there')).toThrow(/control/);
    expect(() => v.deviceName('x'.repeat(65))).toThrow(/64/);
    expect(v.deviceName('é'.repeat(64))).toHaveLength(64);
    expect(() => v.companionDeviceId('deviceId', 1)).toThrow(InvalidArgumentError);
    expect(() => v.uuid('accountId', 'ABCDEF00-0000-4000-8000-000000000000')).toThrow(InvalidArgumentError);
  });
});
