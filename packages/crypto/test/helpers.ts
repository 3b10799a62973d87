import { expect } from '@jest/globals';
import { CryptoError, type CryptoErrorCode } from '../src/errors.js';
import type { RecipientDevice } from '../src/fanout.js';
import { generateIdentity, type IdentityKeyPair } from '../src/identity.js';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generateSignedPrekey,
  type OneTimePrekey,
  type PqPrekey,
  type PrekeyBundle,
  type SignedPrekey,
} from '../src/prekeys.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Runs fn and asserts it throws a CryptoError with `code` (and `parameter`, when given). */
export function expectCryptoError(fn: () => unknown, code: CryptoErrorCode, parameter?: string): CryptoError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CryptoError);
  const err = caught as CryptoError;
  expect(err.code).toBe(code);
  expect(err.name).toBe('CryptoError');
  if (parameter !== undefined) {
    expect(err.parameter).toBe(parameter);
    expect(err.message).toContain(parameter);
  }
  return err;
}

export async function expectCryptoErrorAsync(
  fn: () => Promise<unknown>,
  code?: CryptoErrorCode,
): Promise<CryptoError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CryptoError);
  if (code !== undefined) expect((caught as CryptoError).code).toBe(code);
  return caught as CryptoError;
}

/** A device with its prekeys, as an SDK would hold them. */
export interface TestDevice {
  accountId: string;
  deviceId: number;
  registrationId: number;
  identity: IdentityKeyPair;
  signedPrekey: SignedPrekey;
  oneTimePrekeys: Map<number, OneTimePrekey>;
  pqPrekeys: Map<number, PqPrekey>;
}

export function makeDevice(accountId: string, deviceId: number, oneTimeCount = 2): TestDevice {
  const identity = generateIdentity();
  const pq = generateLastResortPqPrekey(identity.secretKey, 900);
  return {
    accountId,
    deviceId,
    registrationId: 1000 + deviceId,
    identity,
    signedPrekey: generateSignedPrekey(identity.secretKey, 7),
    oneTimePrekeys: new Map(generateOneTimePrekeys(100, oneTimeCount).map((k) => [k.id, k])),
    pqPrekeys: new Map([[pq.id, pq]]),
  };
}

export function bundleOf(d: TestDevice, withOneTime = true): PrekeyBundle {
  const otk = withOneTime ? [...d.oneTimePrekeys.values()][0] : undefined;
  const pq = [...d.pqPrekeys.values()][0]!;
  return {
    identityKey: d.identity.publicKey,
    registrationId: d.registrationId,
    deviceId: d.deviceId,
    signedPrekey: {
      id: d.signedPrekey.id,
      publicKey: d.signedPrekey.publicKey,
      signature: d.signedPrekey.signature,
    },
    oneTimePrekey: otk ? { id: otk.id, publicKey: otk.publicKey } : undefined,
    pqPrekey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature, lastResort: pq.lastResort },
  };
}

export function storeOf(d: TestDevice) {
  return {
    signedPrekey: (id: number) => (id === d.signedPrekey.id ? d.signedPrekey : undefined),
    oneTimePrekey: (id: number) => d.oneTimePrekeys.get(id),
    pqPrekey: (id: number) => d.pqPrekeys.get(id),
  };
}

export function recipient(d: TestDevice, extra: Partial<RecipientDevice> = {}): RecipientDevice {
  return { accountId: d.accountId, deviceId: d.deviceId, identityKey: d.identity.publicKey, ...extra };
}

export const ALICE = '11111111-2222-4333-8444-555555555555';
export const BOB = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
