import type { PrismaClient } from '../db/prisma.js';
import type { DeviceAddress, DeviceRecord, SignedDeviceList } from '../domain/types.js';
import { ACCOUNT_VIEW_INCLUDE, bytes, toAccountView, toDeviceRecord } from './mappers.js';

export interface StoredDeviceList extends SignedDeviceList {
  version: bigint;
}

export interface AccountView {
  accountId: string;
  nextDeviceId: number;
  /** Devices not revoked, primary first (including companions approved but not yet completed). */
  devices: DeviceRecord[];
  signedList: StoredDeviceList | null;
}

export interface UnlinkPlan {
  /** Checks the account's state inside the lock; throws to abort (nothing written). */
  check(view: AccountView, target: DeviceRecord): void;
  /** The new signed list to store with the unlink (the primary's), or null (a companion's own unlink). */
  newList: (StoredDeviceList & { version: bigint }) | null;
}

export interface DevicesRepository {
  get(address: DeviceAddress): Promise<DeviceRecord | null>;
  /** Sets last_seen_at (never backwards) of the listed active devices; returns how many were updated. */
  touch(addresses: readonly DeviceAddress[], seenAt: Date): Promise<number>;
  /** The account with its non-revoked devices and stored signed list; null if unknown. */
  account(accountId: string): Promise<AccountView | null>;
  /** device id + registration id of the active (linked, not revoked) devices of each existing account. */
  activeDeviceSets(
    accountIds: readonly string[],
  ): Promise<Map<string, { deviceId: number; registrationId: number }[]>>;
  /**
   * Revokes a device under the account lock: marks it revoked, removes its prekeys and signatures,
   * stores the new signed list if given. A device revoked earlier (it left by itself, or the sweep
   * removed it) is left as it is, but the new list is still stored: that is how the primary
   * re-signs the list afterwards. Null when the account has no such device.
   */
  revoke(
    target: DeviceAddress,
    plan: UnlinkPlan,
    now: Date,
  ): Promise<{ device: DeviceRecord; alreadyRevoked: boolean } | null>;
  /**
   * Revokes every companion of primaries not seen since `cutoff`, in batches, under a
   * transaction-scoped advisory lock so only one instance sweeps at a time. Returns the revoked
   * addresses (empty when another instance holds the lock).
   */
  revokeCompanionsOfInactivePrimaries(cutoff: Date, now: Date, limit: number): Promise<DeviceAddress[]>;
}

/** Advisory lock key of the inactivity sweep (any constant distinct from Prisma's 72707369). */
export const SWEEP_LOCK_KEY = 7274_0001;

export class PrismaDevicesRepository implements DevicesRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async get(a: DeviceAddress): Promise<DeviceRecord | null> {
    const row = await this.prisma.device.findUnique({
      where: { accountId_deviceId: { accountId: a.accountId, deviceId: a.deviceId } },
    });
    return row ? toDeviceRecord(row) : null;
  }

  async touch(addresses: readonly DeviceAddress[], seenAt: Date): Promise<number> {
    if (addresses.length === 0) return 0;
    const accounts = addresses.map((a) => a.accountId);
    const devices = addresses.map((a) => a.deviceId);
    return this.prisma.$executeRaw`
      UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, ${seenAt}::timestamptz)
      FROM unnest(${accounts}::uuid[], ${devices}::int[]) AS t(account_id, device_id)
      WHERE d.account_id = t.account_id AND d.device_id = t.device_id AND d.revoked_at IS NULL`;
  }

  async account(accountId: string): Promise<AccountView | null> {
    const row = await this.prisma.account.findUnique({
      where: { id: accountId },
      include: ACCOUNT_VIEW_INCLUDE,
    });
    if (!row) return null;
    return toAccountView(row);
  }

  async activeDeviceSets(accountIds: readonly string[]) {
    const rows = await this.prisma.device.findMany({
      where: { accountId: { in: [...accountIds] }, revokedAt: null, linkedAt: { not: null } },
      select: { accountId: true, deviceId: true, registrationId: true },
      orderBy: [{ accountId: 'asc' }, { deviceId: 'asc' }],
    });
    const out = new Map<string, { deviceId: number; registrationId: number }[]>();
    for (const r of rows) {
      const list = out.get(r.accountId) ?? [];
      list.push({ deviceId: r.deviceId, registrationId: r.registrationId });
      out.set(r.accountId, list);
    }
    return out;
  }

  async revoke(
    target: DeviceAddress,
    plan: UnlinkPlan,
    now: Date,
  ): Promise<{ device: DeviceRecord; alreadyRevoked: boolean } | null> {
    return this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM accounts WHERE id = ${target.accountId}::uuid FOR UPDATE`;
      if (locked.length === 0) return null;
      const row = await tx.account.findUniqueOrThrow({
        where: { id: target.accountId },
        include: ACCOUNT_VIEW_INCLUDE,
      });
      const view = toAccountView(row);
      const where = { accountId: target.accountId, deviceId: target.deviceId };
      const existing = await tx.device.findUnique({ where: { accountId_deviceId: where } });
      if (!existing) return null;
      const alreadyRevoked = existing.revokedAt !== null;
      plan.check(view, toDeviceRecord(existing));
      let revoked = existing;
      if (!alreadyRevoked) {
        await tx.oneTimePrekey.deleteMany({ where });
        await tx.pqPrekey.deleteMany({ where });
        await tx.signedPrekey.deleteMany({ where });
        revoked = await tx.device.update({
          where: { accountId_deviceId: where },
          data: { revokedAt: now, identityDetails: null, accountSignature: null, deviceSignature: null },
        });
      }
      if (plan.newList) {
        const data = {
          listBytes: bytes(plan.newList.list),
          signature: bytes(plan.newList.signature),
          version: plan.newList.version,
          updatedAt: now,
        };
        await tx.deviceList.upsert({
          where: { accountId: target.accountId },
          create: { accountId: target.accountId, ...data },
          update: data,
        });
      }
      return { device: toDeviceRecord(revoked), alreadyRevoked };
    });
  }

  async revokeCompanionsOfInactivePrimaries(
    cutoff: Date,
    now: Date,
    limit: number,
  ): Promise<DeviceAddress[]> {
    return this.prisma.$transaction(async (tx) => {
      const [lock] = await tx.$queryRaw<
        { locked: boolean }[]
      >`SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK_KEY}) AS locked`;
      if (!lock?.locked) return [];
      const revoked = await tx.$queryRaw<{ account_id: string; device_id: number }[]>`
        WITH victims AS (
          SELECT c.account_id, c.device_id FROM devices p
          JOIN devices c ON c.account_id = p.account_id AND NOT c.is_primary AND c.revoked_at IS NULL
          WHERE p.is_primary AND p.revoked_at IS NULL AND p.last_seen_at < ${cutoff}::timestamptz
          ORDER BY c.account_id, c.device_id
          LIMIT ${limit}
          FOR UPDATE OF c SKIP LOCKED
        )
        UPDATE devices d SET revoked_at = ${now}::timestamptz,
          identity_details = NULL, account_signature = NULL, device_signature = NULL
        FROM victims v WHERE d.account_id = v.account_id AND d.device_id = v.device_id
        RETURNING d.account_id::text AS account_id, d.device_id`;
      if (revoked.length === 0) return [];
      const accounts = revoked.map((r) => r.account_id);
      const devices = revoked.map((r) => r.device_id);
      for (const table of ['one_time_prekeys', 'pq_prekeys', 'signed_prekeys'] as const) {
        await tx.$executeRawUnsafe(
          `DELETE FROM ${table} k USING unnest($1::uuid[], $2::int[]) AS t(account_id, device_id)
           WHERE k.account_id = t.account_id AND k.device_id = t.device_id`,
          accounts,
          devices,
        );
      }
      return revoked.map((r) => ({ accountId: r.account_id, deviceId: r.device_id }));
    });
  }
}
