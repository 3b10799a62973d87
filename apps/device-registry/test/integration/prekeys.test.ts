import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeReply } from '@tandem/proto';
import { DeviceKeys } from '../helpers/keys.js';
import { pb } from '../helpers/raw-proto.js';
import {
  collect,
  ErrorCode,
  fails,
  type Harness,
  ok,
  registerAccount,
  settle,
  startHarness,
} from '../helpers/registry.js';

describe('prekeys over NATS', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      PREKEY_LOW_THRESHOLD: '5',
      CLAIM_RATE_CAPACITY: '1000',
      DATABASE_POOL_SIZE: '10',
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('hands each of 10 one-time keys to exactly one of 50 concurrent claims; the other 40 get the fallback', async () => {
    const target = await registerAccount(h, 10, 3);
    const claimers = await Promise.all(Array.from({ length: 5 }, () => registerAccount(h, 1, 1)));
    const low = collect(h, h.catalog.events.prekeysLow);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ok(h, h.catalog.registry.claimBundles, {
          requester: { accountId: claimers[i % 5]!.accountId, deviceId: 1 },
          request: { accountId: target.accountId, deviceIds: [] },
        }),
      ),
    );
    const bundles = results.map((r) => {
      expect(r.bundles).toHaveLength(1);
      return r.bundles[0]!;
    });
    const oneTimeIds = bundles.filter((b) => b.oneTimePrekey).map((b) => b.oneTimePrekey!.id);
    expect(oneTimeIds).toHaveLength(10);
    expect(new Set(oneTimeIds)).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(bundles.filter((b) => !b.oneTimePrekey)).toHaveLength(40);
    // PQ: 3 one-time keys, each once; then the last-resort key.
    const pqOneTime = bundles.filter((b) => !b.pqLastResort).map((b) => b.pqPrekey!.id);
    expect(pqOneTime.sort()).toEqual([1, 2, 3]);
    expect(new Set(bundles.filter((b) => b.pqLastResort).map((b) => b.pqPrekey!.id))).toEqual(
      new Set([1000]),
    );
    // Every bundle carries the signed prekey and identity of the device.
    for (const b of bundles) {
      expect(b.identityKey).toEqual(target.keys.publicKey);
      expect(b.signedPrekey!.id).toBe(1);
    }
    const counts = await ok(h, h.catalog.registry.prekeyCount, {
      device: { accountId: target.accountId, deviceId: 1 },
    });
    expect(counts.counts).toMatchObject({ oneTime: 0, pqOneTime: 0 });
    // prekeys_low went out once for this crossing, not 50 times.
    await settle(h);
    const mine = low.got.filter((e) => e.device?.accountId === target.accountId);
    expect(mine).toHaveLength(1);
    low.stop();
  });

  it('tells the owner again after an upload refilled the pool and claims drained it', async () => {
    const target = await registerAccount(h, 6, 6);
    const requester = await registerAccount(h, 1, 1);
    const low = collect(h, h.catalog.events.prekeysLow);
    const claim = () =>
      ok(h, h.catalog.registry.claimBundles, {
        requester: { accountId: requester.accountId, deviceId: 1 },
        request: { accountId: target.accountId, deviceIds: [1] },
      });
    await claim(); // 5 left: not below 5
    await claim(); // 4 left: below -> event
    await claim(); // 3 left: already told
    await ok(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: target.accountId, deviceId: 1 },
      upload: {
        oneTimePrekeys: target.keys.oneTimePrekeys(100, 6),
        pqPrekeys: [6, 7, 8, 9, 10, 11].map((id) => target.keys.pqPrekey(id, false)),
      },
    });
    await claim(); // 5 left
    await claim(); // 4 left -> second event
    await settle(h);
    const mine = low.got.filter((e) => e.device?.accountId === target.accountId);
    expect(mine.map((e) => e.counts?.oneTime)).toEqual([4, 4]);
    low.stop();
  });

  it('replaces the unused one-time keys with an uploaded batch', async () => {
    const r = await registerAccount(h, 10, 0);
    const out = await ok(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: r.accountId, deviceId: 1 },
      upload: { oneTimePrekeys: r.keys.oneTimePrekeys(500, 3), signedPrekey: r.keys.signedPrekey(2) },
    });
    expect(out.counts).toMatchObject({ oneTime: 3, pqOneTime: 0 });
    const rows = await h.app.prisma.oneTimePrekey.findMany({ where: { accountId: r.accountId } });
    expect(rows.map((k) => k.keyId).sort()).toEqual([500, 501, 502]);
    const spk = await h.app.prisma.signedPrekey.findFirstOrThrow({ where: { accountId: r.accountId } });
    expect(spk.keyId).toBe(2);
  });

  it('writes nothing when one PQ signature in a batch is bad', async () => {
    const r = await registerAccount(h, 2, 2);
    const before = await h.app.prisma.pqPrekey.findMany({
      where: { accountId: r.accountId },
      orderBy: { keyId: 'asc' },
    });
    const good = [20, 21, 22].map((id) => r.keys.pqPrekey(id, false));
    good[2]!.signature = new DeviceKeys().pqPrekey(22, false).signature;
    const e = await fails(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: r.accountId, deviceId: 1 },
      upload: { oneTimePrekeys: r.keys.oneTimePrekeys(50, 5), pqPrekeys: good },
    });
    expect(e.code).toBe(ErrorCode.BAD_SIGNATURE);
    expect(e.message).toContain('pqPrekeys[2]');
    const after = await h.app.prisma.pqPrekey.findMany({
      where: { accountId: r.accountId },
      orderBy: { keyId: 'asc' },
    });
    expect(after.map((k) => k.keyId)).toEqual(before.map((k) => k.keyId));
    expect(await h.app.prisma.oneTimePrekey.count({ where: { accountId: r.accountId } })).toBe(2);
  });

  it('refuses a one-time PQ key that would take the last-resort key id, keeping the last-resort key', async () => {
    const r = await registerAccount(h, 1, 1);
    const e = await fails(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: r.accountId, deviceId: 1 },
      upload: { pqPrekeys: [r.keys.pqPrekey(1000, false)] },
    });
    expect(e.code).toBe(ErrorCode.INVALID_ARGUMENT);
    const rows = await h.app.prisma.pqPrekey.findMany({
      where: { accountId: r.accountId },
      orderBy: { keyId: 'asc' },
    });
    expect(rows.map((k) => [k.keyId, k.lastResort])).toEqual([
      [1, false],
      [1000, true],
    ]);
  });

  it('refuses a PQ key that fails the ML-KEM modulus check (INVALID_KEY), even when signed', async () => {
    const r = await registerAccount(h, 1, 1);
    const bad = r.keys.pqPrekey(50, false);
    bad.publicKey = new Uint8Array(1184).fill(0xff);
    const e = await fails(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: r.accountId, deviceId: 1 },
      upload: { pqPrekeys: [bad] },
    });
    expect(e.code).toBe(ErrorCode.INVALID_KEY);
    expect(await h.app.prisma.pqPrekey.count({ where: { accountId: r.accountId, keyId: 50 } })).toBe(0);
  });

  it('refuses a last-resort key signed as a one-time key (the flag is covered by the signature)', async () => {
    const r = await registerAccount(h, 1, 1);
    const e = await fails(h, h.catalog.registry.uploadPrekeys, {
      device: { accountId: r.accountId, deviceId: 1 },
      upload: { pqLastResortPrekey: r.keys.pqPrekey(77, false) },
    });
    expect(e.code).toBe(ErrorCode.BAD_SIGNATURE);
  });

  it('refuses an oversized batch (101 keys) with INVALID_ARGUMENT and writes nothing', async () => {
    const r = await registerAccount(h, 1, 0);
    const keys = r.keys.oneTimePrekeys(1000, 101);
    // RegistryUploadPrekeysRequest{device{account_id, device_id}, upload{one_time_prekeys: 101 x {id, public_key}}}
    const raw = pb.concat(
      pb.message(1, pb.string(1, r.accountId), pb.varint(2, 1)),
      pb.message(2, ...keys.map((k) => pb.message(2, pb.varint(1, k.id), pb.bytes(2, k.publicKey)))),
    );
    const reply = await h.nats.nc.request(h.catalog.registry.uploadPrekeys.subject, raw, { timeout: 5000 });
    const res = decodeReply(h.catalog.registry.uploadPrekeys, reply.data);
    expect(res.result.case === 'error' && res.result.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(await h.app.prisma.oneTimePrekey.count({ where: { accountId: r.accountId } })).toBe(1);
  });

  it('refuses uploads and claims for unknown devices and accounts', async () => {
    const r = await registerAccount(h, 1, 0);
    const unknown = '99999999-9999-4999-8999-999999999999';
    expect(
      (
        await fails(h, h.catalog.registry.uploadPrekeys, {
          device: { accountId: r.accountId, deviceId: 7 },
          upload: { oneTimePrekeys: r.keys.oneTimePrekeys(1, 1) },
        })
      ).code,
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    expect(
      (
        await fails(h, h.catalog.registry.claimBundles, {
          requester: { accountId: r.accountId, deviceId: 1 },
          request: { accountId: unknown, deviceIds: [] },
        })
      ).code,
    ).toBe(ErrorCode.NOT_FOUND);
    expect(
      (
        await fails(h, h.catalog.registry.claimBundles, {
          requester: { accountId: r.accountId, deviceId: 1 },
          request: { accountId: r.accountId, deviceIds: [1, 3] },
        })
      ).code,
    ).toBe(ErrorCode.DEVICE_UNKNOWN);
    // The failed claim handed out nothing.
    expect(await h.app.prisma.oneTimePrekey.count({ where: { accountId: r.accountId } })).toBe(1);
  });
});

describe('claim rate limit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ CLAIM_RATE_CAPACITY: '3', CLAIM_RATE_REFILL_PER_SEC: '0.001' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('allows `capacity` claims per requester and target, then RATE_LIMITED with a retry hint, across instances', async () => {
    const second = await h.startInstance();
    const target = await registerAccount(h, 10, 1);
    const a = await registerAccount(h, 1, 1);
    const b = await registerAccount(h, 1, 1);
    const claim = (requester: string) =>
      ok(h, h.catalog.registry.claimBundles, {
        requester: { accountId: requester, deviceId: 1 },
        request: { accountId: target.accountId, deviceIds: [] },
      }).then(
        () => 'ok',
        (e: { codeName?: string; error?: { retryAfterMs: number } }) =>
          `${e.codeName}:${(e.error?.retryAfterMs ?? 0) > 0}`,
      );
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await claim(a.accountId));
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED:true', 'RATE_LIMITED:true']);
    // Another requester has its own bucket.
    expect(await claim(b.accountId)).toBe('ok');
    // Limited claims consumed no key: 10 - 3 (a) - 1 (b).
    const counts = await ok(h, h.catalog.registry.prekeyCount, {
      device: { accountId: target.accountId, deviceId: 1 },
    });
    expect(counts.counts?.oneTime).toBe(6);
    await second.stop();
  });
});
