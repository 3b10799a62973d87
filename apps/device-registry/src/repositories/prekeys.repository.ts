import type { PrismaClient } from '../db/prisma.js';
import { InvalidArgumentError } from '../domain/errors.js';
import type {
  DeviceAddress,
  DeviceBundle,
  OneTimePrekeyInput,
  PqPrekeyInput,
  PrekeyCounts,
  PrekeyUpload,
  SignedPrekeyInput,
} from '../domain/types.js';
import type { Prisma } from '../generated/prisma/client.js';
import { bytes } from './mappers.js';

export type Tx = Prisma.TransactionClient;

/** The bundles of one claim, the pools left afterwards, and which devices just crossed the low mark. */
export interface ClaimOutcome {
  bundles: DeviceBundle[];
  remaining: Map<number, PrekeyCounts>;
  /** Devices whose pools fell below the threshold with this claim (notified once per crossing). */
  newlyLow: number[];
}

export interface PrekeysRepository {
  /** Applies an upload to an active device; null when the device is not active (nothing written). */
  upload(device: DeviceAddress, upload: PrekeyUpload, lowThreshold: number): Promise<PrekeyCounts | null>;
  counts(device: DeviceAddress): Promise<PrekeyCounts>;
  /**
   * Claims one bundle per listed active device (every active device when `deviceIds` is null).
   * Returns null for an unknown account; `missing` lists requested ids that are not active devices.
   */
  claim(
    accountId: string,
    deviceIds: readonly number[] | null,
    lowThreshold: number,
  ): Promise<{ outcome: ClaimOutcome; missing: number[] } | null>;
}

/** Inserts a device's full key set (registration, link completion) inside a transaction. */
export async function insertKeySet(
  tx: Tx,
  device: DeviceAddress,
  keys: Required<PrekeyUpload>,
): Promise<void> {
  await replaceSignedPrekey(tx, device, keys.signedPrekey);
  await replaceOneTimePrekeys(tx, device, keys.oneTimePrekeys);
  await replacePqPrekeys(tx, device, keys.pqPrekeys, false);
  await replacePqPrekeys(tx, device, [keys.pqLastResortPrekey], true);
}

async function replaceSignedPrekey(tx: Tx, d: DeviceAddress, key: SignedPrekeyInput): Promise<void> {
  const data = { keyId: key.id, publicKey: bytes(key.publicKey), signature: bytes(key.signature) };
  await tx.signedPrekey.upsert({
    where: { accountId_deviceId: { accountId: d.accountId, deviceId: d.deviceId } },
    create: { accountId: d.accountId, deviceId: d.deviceId, ...data },
    update: data,
  });
}

async function replaceOneTimePrekeys(
  tx: Tx,
  d: DeviceAddress,
  keys: readonly OneTimePrekeyInput[],
): Promise<void> {
  await tx.oneTimePrekey.deleteMany({ where: { accountId: d.accountId, deviceId: d.deviceId } });
  if (keys.length === 0) return;
  await tx.oneTimePrekey.createMany({
    data: keys.map((k) => ({
      accountId: d.accountId,
      deviceId: d.deviceId,
      keyId: k.id,
      publicKey: bytes(k.publicKey),
    })),
  });
}

/** Replaces the one-time PQ pool (lastResort false) or the last-resort key (true). */
async function replacePqPrekeys(
  tx: Tx,
  d: DeviceAddress,
  keys: readonly PqPrekeyInput[],
  lastResort: boolean,
): Promise<void> {
  await tx.pqPrekey.deleteMany({
    where: {
      accountId: d.accountId,
      deviceId: d.deviceId,
      OR: [{ lastResort }, { keyId: { in: keys.map((k) => k.id) } }],
    },
  });
  if (keys.length === 0) return;
  await tx.pqPrekey.createMany({
    data: keys.map((k) => ({
      accountId: d.accountId,
      deviceId: d.deviceId,
      keyId: k.id,
      lastResort,
      publicKey: bytes(k.publicKey),
      signature: bytes(k.signature),
    })),
  });
}

async function countsOf(db: Tx | PrismaClient, accountId: string, deviceIds: readonly number[]) {
  const rows = await db.$queryRaw<{ device_id: number; one_time: bigint; pq_one_time: bigint }[]>`
    SELECT d.device_id,
      (SELECT count(*) FROM one_time_prekeys o
        WHERE o.account_id = d.account_id AND o.device_id = d.device_id) AS one_time,
      (SELECT count(*) FROM pq_prekeys p
        WHERE p.account_id = d.account_id AND p.device_id = d.device_id AND NOT p.last_resort) AS pq_one_time
    FROM devices d
    WHERE d.account_id = ${accountId}::uuid AND d.device_id = ANY(${[...deviceIds]}::int[])`;
  return new Map(
    rows.map((r) => [r.device_id, { oneTime: Number(r.one_time), pqOneTime: Number(r.pq_one_time) }]),
  );
}

interface ClaimRow {
  device_id: number;
  registration_id: number;
  identity_key: Uint8Array;
  ok: boolean;
  spk_id: number | null;
  spk_public_key: Uint8Array | null;
  spk_signature: Uint8Array | null;
  otk_id: number | null;
  otk_public_key: Uint8Array | null;
  pq_id: number | null;
  pq_public_key: Uint8Array | null;
  pq_signature: Uint8Array | null;
  lr_id: number | null;
  lr_public_key: Uint8Array | null;
  lr_signature: Uint8Array | null;
  one_time: bigint | null;
  pq_one_time: bigint | null;
  newly_low: boolean;
}

const deviceWhere = (d: DeviceAddress) => ({ accountId: d.accountId, deviceId: d.deviceId });

const isLow = (c: PrekeyCounts, threshold: number) => c.oneTime < threshold || c.pqOneTime < threshold;

export class PrismaPrekeysRepository implements PrekeysRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async upload(d: DeviceAddress, upload: PrekeyUpload, lowThreshold: number): Promise<PrekeyCounts | null> {
    return this.prisma.$transaction(async (tx) => {
      // Lock the device row: concurrent uploads of one device apply one after the other, and an
      // unlink cannot slip in between the check and the writes.
      const active = await tx.$queryRaw<{ device_id: number }[]>`
        SELECT device_id FROM devices
        WHERE account_id = ${d.accountId}::uuid AND device_id = ${d.deviceId}
          AND revoked_at IS NULL AND linked_at IS NOT NULL
        FOR UPDATE`;
      if (active.length === 0) return null;
      if (upload.signedPrekey) await replaceSignedPrekey(tx, d, upload.signedPrekey);
      if (upload.oneTimePrekeys.length > 0) await replaceOneTimePrekeys(tx, d, upload.oneTimePrekeys);
      if (upload.pqPrekeys.length > 0) {
        if (!upload.pqLastResortPrekey) {
          // A one-time PQ key must not take the id of the kept last-resort key (it would replace it).
          const kept = await tx.pqPrekey.findFirst({ where: { ...deviceWhere(d), lastResort: true } });
          if (kept && upload.pqPrekeys.some((k) => k.id === kept.keyId)) {
            throw new InvalidArgumentError('pqPrekeys', `id ${kept.keyId} is the last-resort prekey's`);
          }
        }
        await replacePqPrekeys(tx, d, upload.pqPrekeys, false);
      }
      if (upload.pqLastResortPrekey) await replacePqPrekeys(tx, d, [upload.pqLastResortPrekey], true);
      const counts = (await countsOf(tx, d.accountId, [d.deviceId])).get(d.deviceId)!;
      if (!isLow(counts, lowThreshold)) {
        await tx.device.update({
          where: { accountId_deviceId: { accountId: d.accountId, deviceId: d.deviceId } },
          data: { prekeysLowNotified: false },
        });
      }
      return counts;
    });
  }

  async counts(d: DeviceAddress): Promise<PrekeyCounts> {
    return (
      (await countsOf(this.prisma, d.accountId, [d.deviceId])).get(d.deviceId) ?? { oneTime: 0, pqOneTime: 0 }
    );
  }

  async claim(
    accountId: string,
    deviceIds: readonly number[] | null,
    lowThreshold: number,
  ): Promise<{ outcome: ClaimOutcome; missing: number[] } | null> {
    const wanted = deviceIds ? [...deviceIds] : null;
    // One statement, so one round trip and atomic on its own. Every CTE sees the snapshot taken
    // at the start of the statement:
    // - `dev`: the requested (or all) active devices; `go` is false when a requested id is not
    //   one of them, and then nothing is claimed (the caller answers DEVICE_UNKNOWN).
    // - `otk` / `pq`: each device's lowest one-time key is locked and deleted in the same
    //   statement that returns it; rows another claim holds are skipped (SKIP LOCKED), never
    //   waited for, so every key goes to exactly one claimer and an exhausted pool falls back.
    // - `cnt`: keys left (the snapshot still shows this statement's own deletions: subtracted).
    // - `low`: flags devices that fell below the threshold, once per crossing.
    const rows = await this.prisma.$queryRaw<ClaimRow[]>`
      WITH dev AS (
        SELECT d.device_id, d.registration_id, d.identity_key
        FROM devices d
        WHERE d.account_id = ${accountId}::uuid AND d.revoked_at IS NULL AND d.linked_at IS NOT NULL
          AND (${wanted}::int[] IS NULL OR d.device_id = ANY(${wanted}::int[]))
      ),
      go AS (
        SELECT count(*) > 0 AND (${wanted}::int[] IS NULL OR count(*) = cardinality(${wanted}::int[])) AS ok FROM dev
      ),
      otk_pick AS (
        SELECT k.device_id, k.key_id FROM dev
        CROSS JOIN LATERAL (
          SELECT o.device_id, o.key_id FROM one_time_prekeys o
          WHERE o.account_id = ${accountId}::uuid AND o.device_id = dev.device_id
          ORDER BY o.key_id LIMIT 1
          FOR UPDATE SKIP LOCKED
        ) k
        WHERE (SELECT ok FROM go)
      ),
      otk AS (
        DELETE FROM one_time_prekeys o USING otk_pick p
        WHERE o.account_id = ${accountId}::uuid AND o.device_id = p.device_id AND o.key_id = p.key_id
        RETURNING o.device_id, o.key_id, o.public_key
      ),
      pq_pick AS (
        SELECT k.device_id, k.key_id FROM dev
        CROSS JOIN LATERAL (
          SELECT q.device_id, q.key_id FROM pq_prekeys q
          WHERE q.account_id = ${accountId}::uuid AND q.device_id = dev.device_id AND NOT q.last_resort
          ORDER BY q.key_id LIMIT 1
          FOR UPDATE SKIP LOCKED
        ) k
        WHERE (SELECT ok FROM go)
      ),
      pq AS (
        DELETE FROM pq_prekeys q USING pq_pick p
        WHERE q.account_id = ${accountId}::uuid AND q.device_id = p.device_id AND q.key_id = p.key_id
        RETURNING q.device_id, q.key_id, q.public_key, q.signature
      ),
      cnt AS (
        SELECT dev.device_id,
          (SELECT count(*) FROM one_time_prekeys o WHERE o.account_id = ${accountId}::uuid AND o.device_id = dev.device_id)
            - (SELECT count(*) FROM otk WHERE otk.device_id = dev.device_id) AS one_time,
          (SELECT count(*) FROM pq_prekeys q
            WHERE q.account_id = ${accountId}::uuid AND q.device_id = dev.device_id AND NOT q.last_resort)
            - (SELECT count(*) FROM pq WHERE pq.device_id = dev.device_id) AS pq_one_time
        FROM dev WHERE (SELECT ok FROM go)
      ),
      low AS (
        UPDATE devices d SET prekeys_low_notified = true
        FROM cnt
        WHERE d.account_id = ${accountId}::uuid AND d.device_id = cnt.device_id
          AND (cnt.one_time < ${lowThreshold} OR cnt.pq_one_time < ${lowThreshold})
          AND NOT d.prekeys_low_notified
        RETURNING d.device_id
      )
      SELECT dev.device_id, dev.registration_id, dev.identity_key, (SELECT ok FROM go) AS ok,
        s.key_id AS spk_id, s.public_key AS spk_public_key, s.signature AS spk_signature,
        otk.key_id AS otk_id, otk.public_key AS otk_public_key,
        pq.key_id AS pq_id, pq.public_key AS pq_public_key, pq.signature AS pq_signature,
        lr.key_id AS lr_id, lr.public_key AS lr_public_key, lr.signature AS lr_signature,
        cnt.one_time, cnt.pq_one_time, (low.device_id IS NOT NULL) AS newly_low
      FROM dev
      LEFT JOIN signed_prekeys s ON s.account_id = ${accountId}::uuid AND s.device_id = dev.device_id
      LEFT JOIN pq_prekeys lr ON lr.account_id = ${accountId}::uuid AND lr.device_id = dev.device_id AND lr.last_resort
      LEFT JOIN otk ON otk.device_id = dev.device_id
      LEFT JOIN pq ON pq.device_id = dev.device_id
      LEFT JOIN cnt ON cnt.device_id = dev.device_id
      LEFT JOIN low ON low.device_id = dev.device_id
      ORDER BY dev.device_id`;

    if (rows.length === 0 || !rows[0]!.ok) {
      const exists = await this.prisma.account.count({ where: { id: accountId } });
      if (exists === 0) return null;
      const found = new Set(rows.map((r) => r.device_id));
      const missing = wanted ? wanted.filter((id) => !found.has(id)) : [];
      return { outcome: { bundles: [], remaining: new Map(), newlyLow: [] }, missing };
    }
    const bytes = (b: Uint8Array) => new Uint8Array(b);
    const bundles: DeviceBundle[] = [];
    const remaining = new Map<number, PrekeyCounts>();
    const newlyLow: number[] = [];
    for (const r of rows) {
      // A linked device always has a signed prekey and a last-resort key (written with it).
      if (r.spk_id === null || r.lr_id === null) continue;
      bundles.push({
        deviceId: r.device_id,
        registrationId: r.registration_id,
        identityKey: bytes(r.identity_key),
        signedPrekey: {
          id: r.spk_id,
          publicKey: bytes(r.spk_public_key!),
          signature: bytes(r.spk_signature!),
        },
        oneTimePrekey: r.otk_id !== null ? { id: r.otk_id, publicKey: bytes(r.otk_public_key!) } : undefined,
        pqPrekey:
          r.pq_id !== null
            ? { id: r.pq_id, publicKey: bytes(r.pq_public_key!), signature: bytes(r.pq_signature!) }
            : { id: r.lr_id, publicKey: bytes(r.lr_public_key!), signature: bytes(r.lr_signature!) },
        pqLastResort: r.pq_id === null,
      });
      remaining.set(r.device_id, { oneTime: Number(r.one_time ?? 0), pqOneTime: Number(r.pq_one_time ?? 0) });
      if (r.newly_low) newlyLow.push(r.device_id);
    }
    return { outcome: { bundles, remaining, newlyLow }, missing: [] };
  }
}
