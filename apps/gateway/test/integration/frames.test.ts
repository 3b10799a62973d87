import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateOneTimePrekeys } from '@tandem/crypto/prekeys';
import { create, ErrorCode, HistoryUploadSchema } from '@tandem/proto';
import { errorCode, expectCase, rand, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/** The remaining frames end to end: keys, bundles, device lists, account lookup, history blobs, pushes. */
describe('frames through the gateway', () => {
  let stack: Stack;
  let url: string;
  let alice: TestDevice;
  let bob: TestDevice;
  const companion = new TestDevice();

  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
    url = stack.gateways[0]!.url;
    alice = await TestDevice.registerPrimary(stack, url);
    bob = await TestDevice.registerPrimary(stack, stack.gateways[1]!.url);
    const { client, linkId } = await companion.startLink(stack.gateways[1]!.url);
    const { approval } = await alice.approveLink(linkId, companion);
    expectCase(await companion.completeLink(client, linkId, alice, approval), 'linkCompleted');
  });
  afterAll(async () => {
    await stack.close();
  });

  it('answers ping with pong echoing the timestamp', async () => {
    const r = expectCase(
      await alice.socket.request({
        case: 'ping',
        value: { $typeName: 'tandem.v1.Ping', timestampMs: 1234n },
      }),
      'pong',
    );
    expect(r.timestampMs).toBe(1234n);
    expect(Math.abs(Number(r.serverTimeMs) - Date.now())).toBeLessThan(5000);
  });

  it('looks up an account by handle', async () => {
    const r = expectCase(
      await alice.socket.request({
        case: 'accountLookup',
        value: { $typeName: 'tandem.v1.AccountLookup', handle: bob.handle },
      }),
      'accountLookupResult',
    );
    expect(r.accountId).toBe(bob.accountId);
  });

  it('uploads and counts prekeys', async () => {
    const before = expectCase(
      await alice.socket.request({ case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } }),
      'prekeyCountResult',
    );
    const upload = expectCase(
      await alice.socket.request({
        case: 'prekeyUpload',
        value: {
          $typeName: 'tandem.v1.PrekeyUpload',
          oneTimePrekeys: generateOneTimePrekeys(100, 3).map((k) => ({
            $typeName: 'tandem.v1.OneTimePrekey' as const,
            id: k.id,
            publicKey: k.publicKey,
          })),
          pqPrekeys: [],
        },
      }),
      'prekeyUploadResult',
    );
    // (The registry replaces the one-time pool on upload, where proto's comment says "added to the
    // pool"; this test holds only what the gateway relays: the count after the upload.)
    expect(before.counts).toBeDefined();
    const after = expectCase(
      await alice.socket.request({ case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } }),
      'prekeyCountResult',
    );
    expect(upload.counts!.oneTime).toBeGreaterThanOrEqual(3);
    expect(after.counts).toEqual(upload.counts);
  });

  it("fetches another account's device list and claims its bundles; the owner is told its pool runs low", async () => {
    const list = await bob.deviceList(alice.accountId);
    expect(list.devices.map((d) => d.deviceId)).toEqual([1, 2]);
    expect(list.devices[1]!.identity?.accountSignature).toHaveLength(64);
    const bundles = expectCase(
      await bob.socket.request({
        case: 'bundleFetch',
        value: { $typeName: 'tandem.v1.BundleFetch', accountId: alice.accountId, deviceIds: [] },
      }),
      'bundleResult',
    );
    expect(bundles.bundles.map((b) => b.deviceId).sort()).toEqual([1, 2]);
    // Each device uploaded fewer one-time prekeys than the low threshold: the claim triggers prekeys_low.
    await companion.socket.waitPush((f) => f.body.case === 'prekeysLow', 5000, 'prekeys_low');
  });

  it('moves a history blob from the primary to its companion, once', async () => {
    const data = rand(1000);
    const up = expectCase(
      await alice.socket.request({
        case: 'historyUpload',
        value: create(HistoryUploadSchema, {
          recipientDeviceId: 2,
          chunkIndex: 0,
          totalChunks: 1,
          totalSize: BigInt(data.length),
          data,
        }),
      }),
      'historyUploadResult',
    );
    expect(up.receivedChunks).toBe(1);
    const fetch = () =>
      companion.socket.request({
        case: 'historyFetch',
        value: { $typeName: 'tandem.v1.HistoryFetch', blobId: up.blobId, chunkIndex: 0 },
      });
    const chunk = expectCase(await fetch(), 'historyChunk');
    expect(Buffer.from(chunk.data).equals(Buffer.from(data))).toBe(true);
    expect(errorCode(await fetch())).toBe(ErrorCode.BLOB_NOT_FOUND);
  });

  it('refuses history uploads to a device that is not a companion, and from a companion', async () => {
    const body = (recipientDeviceId: number) =>
      ({
        case: 'historyUpload',
        value: create(HistoryUploadSchema, {
          recipientDeviceId,
          chunkIndex: 0,
          totalChunks: 1,
          totalSize: 10n,
          data: rand(10),
        }),
      }) as const;
    expect(errorCode(await alice.socket.request(body(4)))).toBe(ErrorCode.FORBIDDEN);
    expect(errorCode(await companion.socket.request(body(2)))).toBe(ErrorCode.NOT_PRIMARY);
  });

  it('reports connected devices to the registry as seen (registry.touch)', async () => {
    const where = { accountId_deviceId: { accountId: alice.accountId, deviceId: 1 } };
    const old = new Date(Date.now() - 10 * 24 * 3600_000);
    await stack.registry.prisma.device.update({ where, data: { lastSeenAt: old } });
    await stack.gateways[0]!.core.touch.flush();
    const row = await stack.registry.prisma.device.findUniqueOrThrow({ where });
    expect(row.lastSeenAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('rate-limits registration attempts per IP with a retry_after_ms hint', async () => {
    const { TestClient } = await import('../helpers/client.js');
    const c = await TestClient.connect(stack.gateways[1]!.url);
    let limited: number | undefined;
    for (let i = 0; i < 60 && limited === undefined; i++) {
      const r = await c.request({
        case: 'registerRequestCode',
        value: { $typeName: 'tandem.v1.RegisterRequestCode', handle: `flood_${i}` },
      });
      if (r.body.case === 'error' && r.body.value.code === ErrorCode.RATE_LIMITED)
        limited = r.body.value.retryAfterMs;
    }
    expect(limited).toBeGreaterThan(0);
    c.close();
  });
});
