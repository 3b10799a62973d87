import { type Authenticate, ErrorCode } from '@tandem/proto';
import type { RegistryClient } from '../bus/registry.client.js';
import type { Clock } from '../clock.js';
import type { DeviceIdentity } from '../connection/connection.js';
import { GatewayError } from '../errors.js';
import type { SignatureVerifier } from './signature-verifier.js';

export interface AuthPolicy {
  realm: string;
  maxSkewMs: number;
}

/**
 * Checks an authenticate frame against the socket's challenge: the signed timestamp within the
 * skew window, the device's identity key from the registry, the signature (fast verifier), and
 * only then the device's status, so nobody learns whether a device was revoked without its key.
 */
export class AuthService {
  constructor(
    private readonly registry: RegistryClient,
    private readonly verifier: SignatureVerifier,
    private readonly clock: Clock,
    private readonly policy: AuthPolicy,
  ) {}

  async authenticate(nonce: Uint8Array, frame: Authenticate): Promise<DeviceIdentity> {
    const timestampMs = Number(frame.timestampMs);
    if (Math.abs(timestampMs - this.clock.now()) > this.policy.maxSkewMs) {
      throw new GatewayError(ErrorCode.AUTH_FAILED, 'timestamp outside the accepted window');
    }
    const address = { accountId: frame.accountId, deviceId: frame.deviceId };
    let device: Awaited<ReturnType<RegistryClient['getDevice']>>;
    try {
      device = await this.registry.getDevice(address);
    } catch (err) {
      if (
        err instanceof GatewayError &&
        (err.code === ErrorCode.NOT_FOUND || err.code === ErrorCode.DEVICE_UNKNOWN)
      ) {
        throw new GatewayError(ErrorCode.DEVICE_UNKNOWN, 'unknown device', 0, undefined, { cause: err });
      }
      throw err;
    }
    const ok = this.verifier.verifyAuthChallenge(
      device.identityKey,
      { realm: this.policy.realm, nonce, timestampMs, accountId: frame.accountId, deviceId: frame.deviceId },
      frame.signature,
    );
    if (!ok) throw new GatewayError(ErrorCode.AUTH_FAILED, 'signature does not verify');
    if (!device.active) throw new GatewayError(ErrorCode.DEVICE_REVOKED, 'device was unlinked');
    return { accountId: frame.accountId, deviceId: frame.deviceId, isPrimary: device.isPrimary };
  }
}
