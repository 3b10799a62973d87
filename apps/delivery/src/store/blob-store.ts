import { addressKey, type DeviceAddress, parseAddressKey } from '../domain.js';
import type { BlobHeader, BlobRepository, GetChunkResult, PutChunkResult } from '../ports.js';
import type { KeySpace } from './keys.js';
import type { RedisClient, ScriptRunner } from './lua.js';
import type { Scripts } from './scripts.js';

/**
 * History blobs in Redis: `{b:<blob id>}:meta` and `{b:<blob id>}:c`, one script per operation.
 * The ids of the blobs addressed to a device are also kept in a set in the device's own slot
 * (`{q:<account>:<device>}:b`, expiring with the blobs) so that revoking the device purges them.
 */
export class RedisBlobStore implements BlobRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly runner: ScriptRunner,
    private readonly scripts: Scripts,
    private readonly keys: KeySpace,
  ) {}

  async putChunk(
    blobId: string,
    mode: 'new' | 'existing',
    header: BlobHeader,
    index: number,
    chunk: Uint8Array,
    expiresAtMs: number,
    ttlMs: number,
    maxSize: number,
  ): Promise<PutChunkResult> {
    const r = await this.runner.run(
      this.scripts.blobPutChunk.call(this.keys.blob(blobId), {
        uploader: addressKey(header.uploader),
        recipient: addressKey(header.recipient),
        totalChunks: header.totalChunks,
        totalSize: header.totalSize,
        index,
        chunk,
        expiresAtMs,
        ttlMs,
        maxSize,
        mode,
      }),
    );
    if (r.status === 'ok' && r.created) {
      const set = this.keys.queue(header.recipient).blobs;
      await this.redis.sadd(set, blobId);
      await this.redis.pexpire(set, ttlMs);
    }
    if (r.status !== 'ok') return r;
    return { status: 'ok', chunksStored: r.chunksStored, complete: r.complete };
  }

  async getChunk(
    blobId: string,
    requester: DeviceAddress,
    index: number,
    nowMs: number,
  ): Promise<GetChunkResult> {
    const r = await this.runner.run(
      this.scripts.blobGetChunk.call(this.keys.blob(blobId), {
        requester: addressKey(requester),
        index,
        nowMs,
      }),
    );
    if (r.status === 'not_found' && r.expiredRecipient !== undefined) {
      await this.redis.srem(this.keys.queue(parseAddressKey(r.expiredRecipient)).blobs, blobId);
      return { status: 'not_found' };
    }
    if (r.status !== 'ok') return r;
    if (r.deleted) await this.redis.srem(this.keys.queue(requester).blobs, blobId);
    return { ...r, chunk: new Uint8Array(r.chunk.buffer, r.chunk.byteOffset, r.chunk.byteLength) };
  }

  async purgeFor(device: DeviceAddress): Promise<number> {
    const set = this.keys.queue(device).blobs;
    const ids = await this.redis.smembers(set);
    // Each blob lives in its own slot: one DEL per blob, sent together.
    await Promise.all(
      ids.map((id) => {
        const k = this.keys.blob(id);
        return this.redis.del(k.meta, k.chunks);
      }),
    );
    await this.redis.del(set);
    return ids.length;
  }
}
