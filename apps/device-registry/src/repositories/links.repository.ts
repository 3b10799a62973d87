import type { PrismaClient } from '../db/prisma.js';
import type { DeviceIdentity, DeviceRecord, LinkSessionRecord, PrekeyUpload } from '../domain/types.js';
import type { AccountView, StoredDeviceList } from './devices.repository.js';
import {
  ACCOUNT_VIEW_INCLUDE,
  bytes,
  toAccountView,
  toDeviceRecord,
  toLinkSessionRecord,
} from './mappers.js';
import { insertKeySet } from './prekeys.repository.js';

export interface NewLinkSession {
  id: string;
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  registrationId: number;
  name: string;
  platform: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface ApprovePlan {
  /**
   * Runs with the account row and the session row locked; throws to abort (nothing written).
   * Returns the device id to assign (the account's next one).
   */
  check(view: AccountView, session: LinkSessionRecord): number;
  identity: DeviceIdentity;
  newList: StoredDeviceList;
  approvedByDeviceId: number;
  /** The session's new expiry: the companion has this long to complete. */
  expiresAt: Date;
}

export interface CompletePlan {
  /** Runs with the session and the pending device locked; throws to abort. */
  check(session: LinkSessionRecord, device: DeviceRecord | null): void;
  deviceSignature: Uint8Array;
  keys: Required<PrekeyUpload>;
}

export interface LinksRepository {
  create(session: NewLinkSession): Promise<void>;
  get(id: string): Promise<LinkSessionRecord | null>;
  /** Assigns the next device id, creates the (pending) companion, stores the new list. */
  approve(linkId: string, accountId: string, plan: ApprovePlan, now: Date): Promise<{ deviceId: number }>;
  /** Counter-signature and keys stored, device active, session COMPLETED. */
  complete(linkId: string, plan: CompletePlan, now: Date): Promise<LinkSessionRecord>;
  /** Cancels the session (and revokes its pending device if it was approved). */
  cancel(linkId: string, check: (session: LinkSessionRecord) => void, now: Date): Promise<LinkSessionRecord>;
  /** Marks a session CANCELLED if still PENDING (e.g. after DEVICE_LIMIT). */
  cancelIfPending(linkId: string): Promise<boolean>;
  /**
   * Housekeeping: revokes companions approved whose session expired uncompleted; deletes sessions,
   * verification codes and rate-limit buckets older than `before`. Returns the revoked pending devices.
   */
  sweep(now: Date, before: Date): Promise<{ accountId: string; deviceId: number }[]>;
}

async function lockedSession(tx: Parameters<Parameters<PrismaClient['$transaction']>[0]>[0], id: string) {
  const rows = await tx.$queryRaw<
    { id: string }[]
  >`SELECT id FROM link_sessions WHERE id = ${id}::uuid FOR UPDATE`;
  if (rows.length === 0) return null;
  return toLinkSessionRecord(await tx.linkSession.findUniqueOrThrow({ where: { id } }));
}

export class PrismaLinksRepository implements LinksRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async create(s: NewLinkSession): Promise<void> {
    await this.prisma.linkSession.create({
      data: { ...s, identityKey: bytes(s.identityKey), ephemeralKey: bytes(s.ephemeralKey) },
    });
  }

  async get(id: string): Promise<LinkSessionRecord | null> {
    const row = await this.prisma.linkSession.findUnique({ where: { id } });
    return row ? toLinkSessionRecord(row) : null;
  }

  async approve(
    linkId: string,
    accountId: string,
    plan: ApprovePlan,
    now: Date,
  ): Promise<{ deviceId: number }> {
    return this.prisma.$transaction(async (tx) => {
      // Lock order everywhere: account row, then session row. Two approvals for one account
      // serialize here, so the companion count they check cannot change under them.
      await tx.$queryRaw`SELECT id FROM accounts WHERE id = ${accountId}::uuid FOR UPDATE`;
      const row = await tx.account.findUniqueOrThrow({
        where: { id: accountId },
        include: ACCOUNT_VIEW_INCLUDE,
      });
      const view = toAccountView(row);
      const session = await lockedSession(tx, linkId);
      if (!session) throw new Error('link session vanished'); // the service checked it exists; sessions are only swept long after expiry
      const deviceId = plan.check(view, session);
      await tx.device.create({
        data: {
          accountId,
          deviceId,
          isPrimary: false,
          identityKey: bytes(session.identityKey),
          registrationId: session.registrationId,
          name: session.name,
          platform: session.platform,
          createdAt: now,
          lastSeenAt: now,
          identityDetails: bytes(plan.identity.details),
          accountSignature: bytes(plan.identity.accountSignature),
        },
      });
      await tx.account.update({ where: { id: accountId }, data: { nextDeviceId: deviceId + 1 } });
      await tx.linkSession.update({
        where: { id: linkId },
        data: {
          status: 'APPROVED',
          accountId,
          approvedByDeviceId: plan.approvedByDeviceId,
          deviceId,
          expiresAt: plan.expiresAt,
        },
      });
      const list = {
        listBytes: bytes(plan.newList.list),
        signature: bytes(plan.newList.signature),
        version: plan.newList.version,
        updatedAt: now,
      };
      await tx.deviceList.upsert({ where: { accountId }, create: { accountId, ...list }, update: list });
      return { deviceId };
    });
  }

  async complete(linkId: string, plan: CompletePlan, now: Date): Promise<LinkSessionRecord> {
    return this.prisma.$transaction(async (tx) => {
      const probe = await tx.linkSession.findUnique({ where: { id: linkId }, select: { accountId: true } });
      if (probe?.accountId) {
        await tx.$queryRaw`SELECT id FROM accounts WHERE id = ${probe.accountId}::uuid FOR UPDATE`;
      }
      const session = await lockedSession(tx, linkId);
      if (!session) throw new Error('link session vanished');
      const deviceRow =
        session.accountId && session.deviceId
          ? await tx.device.findUnique({
              where: { accountId_deviceId: { accountId: session.accountId, deviceId: session.deviceId } },
            })
          : null;
      plan.check(session, deviceRow ? toDeviceRecord(deviceRow) : null);
      const address = { accountId: session.accountId!, deviceId: session.deviceId! };
      await tx.device.update({
        where: { accountId_deviceId: address },
        data: { deviceSignature: bytes(plan.deviceSignature), linkedAt: now, lastSeenAt: now },
      });
      await insertKeySet(tx, address, plan.keys);
      const done = await tx.linkSession.update({ where: { id: linkId }, data: { status: 'COMPLETED' } });
      return toLinkSessionRecord(done);
    });
  }

  async cancel(
    linkId: string,
    check: (session: LinkSessionRecord) => void,
    now: Date,
  ): Promise<LinkSessionRecord> {
    return this.prisma.$transaction(async (tx) => {
      const probe = await tx.linkSession.findUnique({ where: { id: linkId }, select: { accountId: true } });
      if (probe?.accountId) {
        await tx.$queryRaw`SELECT id FROM accounts WHERE id = ${probe.accountId}::uuid FOR UPDATE`;
      }
      const session = await lockedSession(tx, linkId);
      if (!session) throw new Error('link session vanished');
      check(session);
      if (session.status === 'APPROVED' && session.accountId && session.deviceId) {
        await tx.device.updateMany({
          where: {
            accountId: session.accountId,
            deviceId: session.deviceId,
            linkedAt: null,
            revokedAt: null,
          },
          data: { revokedAt: now, identityDetails: null, accountSignature: null },
        });
      }
      return toLinkSessionRecord(
        await tx.linkSession.update({ where: { id: linkId }, data: { status: 'CANCELLED' } }),
      );
    });
  }

  async cancelIfPending(linkId: string): Promise<boolean> {
    const r = await this.prisma.linkSession.updateMany({
      where: { id: linkId, status: 'PENDING' },
      data: { status: 'CANCELLED' },
    });
    return r.count > 0;
  }

  async sweep(now: Date, before: Date) {
    return this.prisma.$transaction(async (tx) => {
      const revoked = await tx.$queryRaw<{ account_id: string; device_id: number }[]>`
        WITH expired AS (
          UPDATE link_sessions SET status = 'CANCELLED'
          WHERE status = 'APPROVED' AND expires_at < ${now}::timestamptz
          RETURNING account_id, device_id
        )
        UPDATE devices d SET revoked_at = ${now}::timestamptz, identity_details = NULL, account_signature = NULL
        FROM expired e
        WHERE d.account_id = e.account_id AND d.device_id = e.device_id AND d.linked_at IS NULL AND d.revoked_at IS NULL
        RETURNING d.account_id::text AS account_id, d.device_id`;
      await tx.linkSession.deleteMany({ where: { expiresAt: { lt: before } } });
      await tx.verificationCode.deleteMany({ where: { expiresAt: { lt: before } } });
      await tx.rateLimitBucket.deleteMany({ where: { updatedAt: { lt: before } } });
      return revoked.map((r) => ({ accountId: r.account_id, deviceId: r.device_id }));
    });
  }
}
