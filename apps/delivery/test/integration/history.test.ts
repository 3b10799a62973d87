import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DeviceAddress } from '../../src/domain.js';
import {
  BlobNotFoundError,
  ConflictError,
  InvalidArgumentError,
  NotPrimaryError,
  PayloadTooLargeError,
} from '../../src/errors.js';
import type { HistoryChunkUpload } from '../../src/service/delivery-service.js';
import { account } from '../fixtures.js';
import { Harness, type Instance } from './harness.js';

const TTL = 24 * 3600 * 1000;
const CHUNK = 300;
let h: Harness;
let d: Instance;

beforeAll(async () => {
  h = await Harness.create();
  d = await h.instance({ historyTtlMs: TTL, historyMaxBytes: 1000, historyMaxChunkBytes: CHUNK });
});
afterAll(async () => {
  await h.close();
});

const chunkOf = (i: number, n: number) => new Uint8Array(n).fill(i + 1);

/** The upload requests of a blob of `totalSize` bytes from the primary to `to`. */
function parts(
  primary: DeviceAddress,
  to: DeviceAddress,
  totalSize: number,
  blobId = '',
): HistoryChunkUpload[] {
  const totalChunks = Math.ceil(totalSize / CHUNK);
  return Array.from({ length: totalChunks }, (_, index) => ({
    uploader: primary,
    recipientDeviceId: to.deviceId,
    blobId,
    index,
    totalChunks,
    totalSize,
    chunk: chunkOf(index, Math.min(CHUNK, totalSize - index * CHUNK)),
  }));
}

/** Uploads a whole blob in order; returns its id. */
async function upload(primary: DeviceAddress, to: DeviceAddress, totalSize: number): Promise<string> {
  const [first, ...rest] = parts(primary, to, totalSize);
  const { blobId } = await d.service.putHistoryChunk(first!);
  for (const p of rest) await d.service.putHistoryChunk({ ...p, blobId });
  return blobId;
}

describe('history blobs', () => {
  it('is fetched only by its recipient device and deleted once the last chunk is fetched', async () => {
    const devs = account(3);
    const [c0, c1, c2] = parts(devs[0]!, devs[1]!, 700);
    const r0 = await d.service.putHistoryChunk(c0!);
    expect(r0).toMatchObject({ chunksStored: 1, complete: false });
    expect(r0.blobId).toMatch(/^[0-9a-f-]{36}$/);
    const blobId = r0.blobId;
    // Re-sending a stored chunk is idempotent; skipping one is refused.
    await expect(d.service.putHistoryChunk({ ...c0!, blobId })).resolves.toMatchObject({ chunksStored: 1 });
    await expect(d.service.putHistoryChunk({ ...c2!, blobId })).rejects.toThrow(/out of order/);
    await d.service.putHistoryChunk({ ...c1!, blobId });
    await expect(d.service.putHistoryChunk({ ...c2!, blobId })).resolves.toMatchObject({
      chunksStored: 3,
      complete: true,
    });

    // Other devices (the primary, the other companion, another account) see no such blob.
    const stranger = account(2)[1]!;
    for (const other of [devs[0]!, devs[2]!, stranger]) {
      await expect(d.service.getHistoryChunk(other, blobId, 0)).rejects.toBeInstanceOf(BlobNotFoundError);
    }
    const got = [];
    for (const i of [0, 1, 0, 2]) got.push(await d.service.getHistoryChunk(devs[1]!, blobId, i));
    expect(got.map((g) => g.chunk)).toEqual([
      chunkOf(0, 300),
      chunkOf(1, 300),
      chunkOf(0, 300),
      chunkOf(2, 100),
    ]);
    expect(got.map((g) => g.deleted)).toEqual([false, false, false, true]);
    expect(got[0]).toMatchObject({ totalChunks: 3, totalSize: 700 });
    await expect(d.service.getHistoryChunk(devs[1]!, blobId, 0)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await h.keys()).toEqual([]);
  });

  it('answers BLOB_NOT_FOUND for an unknown blob, an incomplete one, and one past its TTL', async () => {
    const devs = account(2);
    await expect(d.service.getHistoryChunk(devs[1]!, 'nope', 0)).rejects.toBeInstanceOf(BlobNotFoundError);
    const [c0, c1] = parts(devs[0]!, devs[1]!, 400);
    const { blobId } = await d.service.putHistoryChunk(c0!);
    await expect(d.service.getHistoryChunk(devs[1]!, blobId, 0)).rejects.toThrow(/not completely uploaded/);
    await d.service.putHistoryChunk({ ...c1!, blobId });
    expect(await h.redis.client.pttl(`${h.redis.prefix}{b:${blobId}}:c`)).toBeGreaterThan(TTL - 60_000);
    h.clock.advance(TTL);
    await expect(d.service.getHistoryChunk(devs[1]!, blobId, 0)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await h.keys()).toEqual([]);
  });

  it('refuses bad uploads with typed errors, writing nothing', async () => {
    const devs = account(3);
    const [big] = parts(devs[0]!, devs[1]!, 1200);
    await expect(d.service.putHistoryChunk(big!)).rejects.toBeInstanceOf(PayloadTooLargeError);
    const [fromCompanion] = parts(devs[1]!, devs[2]!, 10);
    await expect(d.service.putHistoryChunk(fromCompanion!)).rejects.toBeInstanceOf(NotPrimaryError);
    const [toItself] = parts(devs[0]!, devs[0]!, 10);
    await expect(d.service.putHistoryChunk(toItself!)).rejects.toBeInstanceOf(InvalidArgumentError);
    const [c0, c1] = parts(devs[0]!, devs[1]!, 310);
    await expect(d.service.putHistoryChunk({ ...c0!, chunk: chunkOf(0, 299) })).rejects.toThrow(
      /must be 300 bytes/,
    );
    await expect(d.service.putHistoryChunk({ ...c0!, totalChunks: 3 })).rejects.toThrow(/ceil/);
    // A later chunk for a blob id that does not exist.
    await expect(
      d.service.putHistoryChunk({ ...c1!, blobId: '5d0c1a52-8e1f-4c6b-b7a4-1f6a2e9d3c02' }),
    ).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(d.service.putHistoryChunk({ ...c1!, blobId: '' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await h.keys()).toEqual([]);
    // A chunk contradicting the blob's header.
    const { blobId } = await d.service.putHistoryChunk(c0!);
    await expect(
      d.service.putHistoryChunk({ ...c1!, blobId, recipientDeviceId: devs[2]!.deviceId }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(d.service.putHistoryChunk({ ...c1!, blobId })).resolves.toMatchObject({ complete: true });
  });

  it('purges the blobs addressed to a device when it is revoked', async () => {
    const devs = account(3);
    const forRevoked = await upload(devs[0]!, devs[1]!, 400);
    const forOther = await upload(devs[0]!, devs[2]!, 10);
    await d.service.revokeDevice(devs[1]!);
    await expect(d.service.getHistoryChunk(devs[1]!, forRevoked, 0)).rejects.toBeInstanceOf(
      BlobNotFoundError,
    );
    expect(
      (await h.keys()).filter((k) => k.includes(forRevoked) || k.includes(`${devs[1]!.accountId}:2`)),
    ).toEqual([]);
    // The other companion's blob is untouched.
    expect((await d.service.getHistoryChunk(devs[2]!, forOther, 0)).deleted).toBe(true);
  });
});
