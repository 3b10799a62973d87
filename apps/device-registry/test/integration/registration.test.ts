import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeReply } from '@tandem/proto';
import { ManualClock } from '../../src/app.js';
import { DeviceKeys } from '../helpers/keys.js';
import { pb } from '../helpers/raw-proto.js';
import {
  ErrorCode,
  fails,
  type Harness,
  newHandle,
  ok,
  registerAccount,
  startHarness,
} from '../helpers/registry.js';

describe('registration over NATS', () => {
  let h: Harness;
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    h = await startHarness(
      {
        VERIFICATION_CODE_TTL_MS: '600000',
        VERIFICATION_MAX_ATTEMPTS: '3',
        VERIFICATION_REQUESTS_PER_WINDOW: '2',
      },
      { clock },
    );
  });
  afterAll(async () => {
    await h.close();
  });

  const verifyRequest = (handle: string, code: string, keys = new DeviceKeys()) => ({
    request: {
      handle,
      code,
      identityKey: keys.publicKey,
      registrationId: keys.registrationId,
      name: 'phone',
      platform: 1,
      ...keys.keySet(3, 2),
    },
  });

  it('creates the account and its primary device 1 with its keys', async () => {
    const handle = newHandle();
    const keys = new DeviceKeys();
    const sent = await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    expect(Number(sent.expiresAtMs)).toBe(clock.now().getTime() + 600_000);
    const code = h.codes.sent.get(handle)!;
    const out = await ok(h, h.catalog.registry.registerVerify, verifyRequest(handle, code, keys));
    expect(out.deviceId).toBe(1);
    const device = await ok(h, h.catalog.registry.getDevice, {
      device: { accountId: out.accountId, deviceId: 1 },
    });
    expect(device.isPrimary).toBe(true);
    expect(device.identityKey).toEqual(keys.publicKey);
    expect(device.registrationId).toBe(keys.registrationId);
    const counts = await ok(h, h.catalog.registry.prekeyCount, {
      device: { accountId: out.accountId, deviceId: 1 },
    });
    expect(counts.counts).toMatchObject({ oneTime: 3, pqOneTime: 2 });
    const lookup = await ok(h, h.catalog.registry.accountLookup, {
      requester: { accountId: out.accountId, deviceId: 1 },
      request: { handle },
    });
    expect(lookup.accountId).toBe(out.accountId);
    // The plain code is nowhere in the database.
    const rows = await h.app.prisma.verificationCode.findMany({ where: { handle } });
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.codeHash).includes(Buffer.from(code))).toBe(false);
    expect(rows[0]!.consumedAt).not.toBeNull();
  });

  it('refuses a second registration of the same handle', async () => {
    const r = await registerAccount(h);
    const e = await fails(h, h.catalog.registry.registerRequestCode, { request: { handle: r.handle } });
    expect(e.code).toBe(ErrorCode.ACCOUNT_EXISTS);
  });

  it('counts wrong codes and burns the code after the limit', async () => {
    const handle = newHandle();
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    const code = h.codes.sent.get(handle)!;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) {
      expect((await fails(h, h.catalog.registry.registerVerify, verifyRequest(handle, wrong))).code).toBe(
        ErrorCode.CODE_INVALID,
      );
    }
    const e = await fails(h, h.catalog.registry.registerVerify, verifyRequest(handle, code));
    expect(e.code).toBe(ErrorCode.TOO_MANY_ATTEMPTS);
    expect(await h.app.prisma.account.count({ where: { handle } })).toBe(0);
  });

  it('refuses an expired code', async () => {
    const handle = newHandle();
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    clock.advance(600_001);
    const e = await fails(
      h,
      h.catalog.registry.registerVerify,
      verifyRequest(handle, h.codes.sent.get(handle)!),
    );
    expect(e.code).toBe(ErrorCode.CODE_EXPIRED);
  });

  it('rate-limits code requests per handle', async () => {
    const handle = newHandle();
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    const e = await fails(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    expect(e.code).toBe(ErrorCode.RATE_LIMITED);
    expect(e.error.retryAfterMs).toBeGreaterThan(0);
  });

  it('writes nothing when a prekey signature is bad, and names the field', async () => {
    const handle = newHandle();
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    const req = verifyRequest(handle, h.codes.sent.get(handle)!);
    req.request.signedPrekey.signature = new DeviceKeys().signedPrekey(1).signature;
    const e = await fails(h, h.catalog.registry.registerVerify, req);
    expect(e.code).toBe(ErrorCode.BAD_SIGNATURE);
    expect(e.message).toContain('signedPrekey');
    expect(await h.app.prisma.account.count({ where: { handle } })).toBe(0);
    // The code was not spent on a request that failed validation: a correct retry succeeds.
    const good = verifyRequest(handle, h.codes.sent.get(handle)!);
    expect((await ok(h, h.catalog.registry.registerVerify, good)).deviceId).toBe(1);
  });

  it('answers a request with a 31-byte identity key with INVALID_KEY and writes nothing', async () => {
    const handle = newHandle();
    await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
    // RegistryRegisterVerifyRequest{request: RegisterVerify{handle, code, identity_key (31 bytes), ...}}
    const raw = pb.concat(
      pb.message(
        1,
        pb.string(1, handle),
        pb.string(2, h.codes.sent.get(handle)!),
        pb.bytes(3, new Uint8Array(31).fill(7)),
        pb.varint(4, 42),
        pb.string(9, 'phone'),
      ),
    );
    const reply = await h.nats.nc.request(h.catalog.registry.registerVerify.subject, raw, { timeout: 5000 });
    const res = decodeReply(h.catalog.registry.registerVerify, reply.data);
    expect(res.result.case).toBe('error');
    expect(res.result.case === 'error' && res.result.value.code).toBe(ErrorCode.INVALID_KEY);
    expect(await h.app.prisma.account.count({ where: { handle } })).toBe(0);
  });

  it('answers garbage bytes with BAD_FRAME and keeps serving', async () => {
    const reply = await h.nats.nc.request(
      h.catalog.registry.registerVerify.subject,
      Uint8Array.of(0xff, 0xff, 0xff),
      {
        timeout: 5000,
      },
    );
    const res = decodeReply(h.catalog.registry.registerVerify, reply.data);
    expect(res.result.case === 'error' && res.result.value.code).toBe(ErrorCode.BAD_FRAME);
    expect((await registerAccount(h)).accountId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('publishes request metrics by subject and result', async () => {
    const res = await fetch(`http://127.0.0.1:${h.app.ops.port}/metrics`);
    const text = await res.text();
    expect(text).toMatch(
      /registry_requests_total\{[^}]*subject="v1\.registry\.register_verify"[^}]*result="OK"/,
    );
    expect(text).toMatch(
      /registry_requests_total\{[^}]*subject="v1\.registry\.register_verify"[^}]*result="BAD_SIGNATURE"/,
    );
    expect(text).toContain('registry_request_duration_seconds_bucket');
  });
});
