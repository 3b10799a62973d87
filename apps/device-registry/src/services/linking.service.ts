import { randomUUID } from 'node:crypto';
import type { RegistryCrypto } from '../crypto/verifier.js';
import type { Clock } from '../domain/clock.js';
import {
  BadSignatureError,
  InvalidArgumentError,
  InvalidKeyError,
  isRegistryError,
  RegistryError,
} from '../domain/errors.js';
import type { RegistryEvents } from '../domain/events.js';
import {
  assertCompanionSlotFree,
  assertListMatches,
  assertSessionUsable,
  equalBytes,
} from '../domain/rules.js';
import type { DeviceAddress, DeviceIdentity, PrekeyUpload, SignedDeviceList } from '../domain/types.js';
import * as v from '../domain/validation.js';
import type { DevicesRepository } from '../repositories/devices.repository.js';
import type { LinksRepository } from '../repositories/links.repository.js';
import { address, openList, requirePrimary, verifyKeySet } from './guards.js';

export interface LinkStartInput {
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  registrationId: number;
  name: string;
  platform: string;
}

export interface LinkApproveInput {
  linkId: string;
  companionIdentityKey: Uint8Array;
  identity: DeviceIdentity | undefined;
  signedList: SignedDeviceList | undefined;
  sealedPayload: Uint8Array;
  /** The next device id as the primary saw it. */
  deviceId: number;
}

export interface LinkCompleteInput {
  linkId: string;
  identity: DeviceIdentity | undefined;
  keys: PrekeyUpload;
}

function identityOf(
  field: string,
  id: DeviceIdentity | undefined,
  requireDeviceSignature: boolean,
): DeviceIdentity {
  if (!id) throw new InvalidArgumentError(field, 'is required');
  return {
    details: v.bytesUpTo(`${field}.details`, id.details, v.LIMITS.maxDetailsBytes),
    accountSignature: v.bytesOfLength(
      `${field}.accountSignature`,
      id.accountSignature,
      v.LIMITS.signatureBytes,
    ),
    deviceSignature: requireDeviceSignature
      ? v.bytesOfLength(`${field}.deviceSignature`, id.deviceSignature, v.LIMITS.signatureBytes)
      : new Uint8Array(0),
  };
}

export class LinkingService {
  constructor(
    private readonly links: LinksRepository,
    private readonly devices: DevicesRepository,
    private readonly crypto: RegistryCrypto,
    private readonly clock: Clock,
    private readonly events: RegistryEvents,
    private readonly settings: { sessionTtlMs: number },
  ) {}

  /** An unauthenticated companion opens a session; nothing of an account is touched yet. */
  async create(input: LinkStartInput): Promise<{ linkId: string; expiresAt: Date }> {
    const identityKey = v.keyOfLength('identityKey', input.identityKey, v.LIMITS.identityKeyBytes);
    const ephemeralKey = v.keyOfLength('ephemeralKey', input.ephemeralKey, v.LIMITS.x25519Bytes);
    const registrationId = v.uint32('registrationId', input.registrationId);
    const name = v.deviceName(input.name);
    const now = this.clock.now();
    const linkId = randomUUID();
    const expiresAt = new Date(now.getTime() + this.settings.sessionTtlMs);
    await this.links.create({
      id: linkId,
      identityKey,
      ephemeralKey,
      registrationId,
      name,
      platform: input.platform,
      createdAt: now,
      expiresAt,
    });
    return { linkId, expiresAt };
  }

  private async session(linkIdRaw: string) {
    const linkId = v.uuid('linkId', linkIdRaw);
    const session = await this.links.get(linkId);
    if (!session) throw new RegistryError('LINK_NOT_FOUND', 'link session not found');
    return session;
  }

  /**
   * The primary approves: its account signature over the companion's identity and the new signed
   * list (exactly the current devices plus the companion) must verify. Assigns the next device id
   * under the account lock, so two concurrent approvals cannot exceed the companion limit.
   */
  async approve(requesterRaw: DeviceAddress | undefined, input: LinkApproveInput) {
    const requesterAddr = address('requester', requesterRaw);
    const companionKey = v.keyOfLength(
      'companionIdentityKey',
      input.companionIdentityKey,
      v.LIMITS.identityKeyBytes,
    );
    const identity = identityOf('identity', input.identity, false);
    if (!input.signedList) throw new InvalidArgumentError('signedList', 'is required');
    const signedList = { list: input.signedList.list, signature: input.signedList.signature };
    const sealedPayload = v.bytesUpTo('sealedPayload', input.sealedPayload, v.LIMITS.maxSealedPayloadBytes);
    const expectedDeviceId = v.companionDeviceId('deviceId', input.deviceId);
    const primary = await requirePrimary(this.devices, requesterAddr);
    const accountId = primary.accountId;
    const session = await this.session(input.linkId);
    const now = this.clock.now();
    assertSessionUsable(session, 'PENDING', now);
    // A full account is refused first, whatever else the request says (checked again under the lock).
    const current = await this.devices.account(accountId);
    if (current) await this.tellCompanionIfFull(session.id, () => assertCompanionSlotFree(current.devices));
    if (!equalBytes(session.identityKey, companionKey)) {
      throw new InvalidKeyError(
        'companionIdentityKey',
        'differs from the key the companion started the link with',
      );
    }
    const details = this.crypto.decodeDetails(identity.details);
    if (!details) throw new InvalidArgumentError('identity.details', 'are not canonical');
    if (details.accountId !== accountId || details.deviceId !== expectedDeviceId) {
      throw new InvalidArgumentError(
        'identity.details',
        'must name this account and the device id being approved',
      );
    }
    if (!this.crypto.verifyAccountSignature(primary.identityKey, companionKey, identity)) {
      throw new BadSignatureError('identity.accountSignature');
    }
    const content = openList(this.crypto, primary.identityKey, signedList);

    const result = await this.tellCompanionIfFull(session.id, () =>
      this.links.approve(
        session.id,
        accountId,
        {
          identity,
          newList: { ...signedList, version: content.version },
          approvedByDeviceId: primary.deviceId,
          expiresAt: new Date(now.getTime() + this.settings.sessionTtlMs),
          check: (view, locked) => {
            assertSessionUsable(locked, 'PENDING', now);
            assertCompanionSlotFree(view.devices);
            if (view.nextDeviceId !== expectedDeviceId) {
              throw new RegistryError('CONFLICT', `the next device id is ${view.nextDeviceId}`, {
                nextDeviceId: view.nextDeviceId,
              });
            }
            assertListMatches(
              content,
              accountId,
              [...view.devices, { deviceId: expectedDeviceId, identityKey: companionKey }],
              view.signedList?.version ?? null,
            );
            return expectedDeviceId;
          },
        },
        now,
      ),
    );
    this.events.linkPayload(session.id, { accountId, deviceId: result.deviceId, sealedPayload });
    return { linkId: session.id, accountId, deviceId: result.deviceId };
  }

  /** Runs `fn`; on DEVICE_LIMIT the session ends and the waiting companion is told why. */
  private async tellCompanionIfFull<T>(linkId: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isRegistryError(err) && err.code === 'DEVICE_LIMIT' && (await this.links.cancelIfPending(linkId))) {
        this.events.linkCancelled(linkId, 'DEVICE_LIMIT');
      }
      throw err;
    }
  }

  /** The companion counter-signs and uploads its keys; the session is then spent. */
  async complete(input: LinkCompleteInput): Promise<{ accountId: string; deviceId: number }> {
    const identity = identityOf('identity', input.identity, true);
    const keys = v.fullPrekeySet(input.keys);
    const session = await this.session(input.linkId);
    const now = this.clock.now();
    assertSessionUsable(session, 'APPROVED', now);
    verifyKeySet(this.crypto, session.identityKey, keys);
    const primary = await this.devices.get({ accountId: session.accountId!, deviceId: 1 });
    if (!primary || primary.revokedAt)
      throw new RegistryError('LINK_NOT_FOUND', 'the approving account is gone');
    if (!this.crypto.verifyDeviceSignature(session.identityKey, primary.identityKey, identity)) {
      throw new BadSignatureError('identity.deviceSignature');
    }
    const done = await this.links.complete(
      session.id,
      {
        deviceSignature: identity.deviceSignature,
        keys,
        check: (locked, device) => {
          assertSessionUsable(locked, 'APPROVED', now);
          if (!device || device.revokedAt !== null) {
            throw new RegistryError('LINK_ALREADY_USED', 'the approved device was unlinked');
          }
          const stored = device.identity;
          if (
            !stored ||
            !equalBytes(stored.details, identity.details) ||
            !equalBytes(stored.accountSignature, identity.accountSignature)
          ) {
            throw new InvalidArgumentError(
              'identity',
              'must carry the details and account signature of the approval',
            );
          }
        },
      },
      now,
    );
    const device = { accountId: done.accountId!, deviceId: done.deviceId! };
    this.events.deviceLinked(device);
    this.events.deviceListChanged(device.accountId);
    return device;
  }

  /** Either side abandons the link: the companion (no requester) or the account's primary. */
  async cancel(requesterRaw: DeviceAddress | undefined, linkIdRaw: string) {
    const requester = requesterRaw ? address('requester', requesterRaw) : undefined;
    const primary = requester ? await requirePrimary(this.devices, requester) : undefined;
    const session = await this.session(linkIdRaw);
    const now = this.clock.now();
    const cancelled = await this.links.cancel(
      session.id,
      (locked) => {
        if (locked.status === 'COMPLETED' || locked.status === 'CANCELLED') {
          throw new RegistryError('LINK_ALREADY_USED', `link session is ${locked.status.toLowerCase()}`);
        }
        if (locked.expiresAt.getTime() <= now.getTime())
          throw new RegistryError('LINK_EXPIRED', 'link session expired');
        if (primary && locked.accountId !== null && locked.accountId !== primary.accountId) {
          throw new RegistryError('FORBIDDEN', 'link session belongs to another account');
        }
      },
      now,
    );
    const reason = primary ? 'CANCELLED_BY_PRIMARY' : 'CANCELLED_BY_COMPANION';
    // The waiting companion is told when the primary cancels; a companion that cancelled knows.
    if (primary) this.events.linkCancelled(cancelled.id, reason);
    if (session.status === 'APPROVED' && session.accountId) this.events.deviceListChanged(session.accountId);
    return { linkId: cancelled.id, reason } as const;
  }
}
