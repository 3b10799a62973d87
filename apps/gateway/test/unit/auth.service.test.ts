import { describe, expect, it } from '@jest/globals';
import { generateIdentity, signAuthChallenge } from '@tandem/crypto/identity';
import { AuthenticateSchema, create, ErrorCode } from '@tandem/proto';
import type { RegistryClient, RegistryDeviceRecord } from '../../src/bus/registry.client.js';
import { ManualClock } from '../../src/clock.js';
import { GatewayError } from '../../src/errors.js';
import { AuthService } from '../../src/services/auth.service.js';
import { CryptoSignatureVerifier } from '../../src/services/crypto-verifier.js';

const ACCOUNT = '0f0e0d0c-0b0a-4908-8706-050403020100';
const REALM = 'chat.test';
const identity = generateIdentity();
const nonce = new Uint8Array(32).fill(7);

function registryWith(record: RegistryDeviceRecord | GatewayError): RegistryClient {
  return {
    getDevice: async () => {
      if (record instanceof GatewayError) throw record;
      return record;
    },
  } as unknown as RegistryClient;
}

function frame(
  clock: ManualClock,
  opts: { ts?: number; realm?: string; deviceId?: number; secret?: Uint8Array } = {},
) {
  const timestampMs = opts.ts ?? clock.now();
  const fields = {
    realm: opts.realm ?? REALM,
    nonce,
    timestampMs,
    accountId: ACCOUNT,
    deviceId: opts.deviceId ?? 2,
  };
  return create(AuthenticateSchema, {
    accountId: ACCOUNT,
    deviceId: 2,
    timestampMs: BigInt(timestampMs),
    signature: signAuthChallenge(opts.secret ?? identity.secretKey, fields),
  });
}

const active: RegistryDeviceRecord = {
  identityKey: identity.publicKey,
  registrationId: 5,
  active: true,
  isPrimary: false,
};
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as GatewayError).code;
  }
};

describe('AuthService', () => {
  const clock = new ManualClock();
  const make = (registry: RegistryClient) =>
    new AuthService(registry, new CryptoSignatureVerifier(), clock, { realm: REALM, maxSkewMs: 60_000 });

  it('accepts a signature over this socket’s nonce, the realm and a fresh timestamp', async () => {
    const device = await make(registryWith(active)).authenticate(nonce, frame(clock));
    expect(device).toEqual({ accountId: ACCOUNT, deviceId: 2, isPrimary: false });
  });

  it('refuses a signature by another key, for another realm, or another device id', async () => {
    const auth = make(registryWith(active));
    expect(
      await codeOf(auth.authenticate(nonce, frame(clock, { secret: generateIdentity().secretKey }))),
    ).toBe(ErrorCode.AUTH_FAILED);
    expect(await codeOf(auth.authenticate(nonce, frame(clock, { realm: 'other.realm' })))).toBe(
      ErrorCode.AUTH_FAILED,
    );
    expect(await codeOf(auth.authenticate(nonce, frame(clock, { deviceId: 3 })))).toBe(ErrorCode.AUTH_FAILED);
    expect(await codeOf(auth.authenticate(new Uint8Array(32), frame(clock)))).toBe(ErrorCode.AUTH_FAILED);
  });

  it('refuses timestamps outside the skew window', async () => {
    const auth = make(registryWith(active));
    expect(await codeOf(auth.authenticate(nonce, frame(clock, { ts: clock.now() - 61_000 })))).toBe(
      ErrorCode.AUTH_FAILED,
    );
    expect(await codeOf(auth.authenticate(nonce, frame(clock, { ts: clock.now() + 61_000 })))).toBe(
      ErrorCode.AUTH_FAILED,
    );
    expect(await codeOf(auth.authenticate(nonce, frame(clock, { ts: clock.now() + 59_000 })))).toBe('ok');
  });

  it('maps an unknown device to DEVICE_UNKNOWN and reveals revocation only to the key holder', async () => {
    expect(
      await codeOf(
        make(registryWith(new GatewayError(ErrorCode.NOT_FOUND, 'x'))).authenticate(nonce, frame(clock)),
      ),
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    const revoked = make(registryWith({ ...active, active: false }));
    expect(await codeOf(revoked.authenticate(nonce, frame(clock)))).toBe(ErrorCode.DEVICE_REVOKED);
    expect(
      await codeOf(revoked.authenticate(nonce, frame(clock, { secret: generateIdentity().secretKey }))),
    ).toBe(ErrorCode.AUTH_FAILED);
  });
});
