/**
 * One small class per Lua script of lua/, each naming the script's KEYS and ARGV. They only build
 * calls and parse replies; ScriptRunner runs them (alone or pipelined).
 */

import type { BlobKeys, QueueKeys } from './keys.js';
import { asArray, asBuffer, asNumber, asString, LuaScript, type RawReply, type ScriptCall } from './lua.js';

export type StoreCopyReply =
  | { status: 'stored'; serverId: string; seq: number }
  | { status: 'existing'; serverId: string; seq: number; expiresAtMs: number; meta: string; payload: Buffer }
  | { status: 'full'; reason: 'copies' | 'bytes' };

/** lua/store_copy.lua — store one copy in one device queue, idempotent on the idem field. */
export class StoreCopyScript {
  readonly script = LuaScript.fromFile('store_copy');
  call(
    keys: QueueKeys,
    args: {
      idemField: string;
      serverId: string;
      kind: 'm' | 'r';
      payload: Uint8Array;
      meta: string;
      expiresAtMs: number;
      maxCopies: number;
      maxBytes: number;
    },
  ): ScriptCall<StoreCopyReply> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data],
      args: [
        args.idemField,
        args.serverId,
        args.kind,
        args.payload,
        args.meta,
        args.expiresAtMs,
        args.maxCopies,
        args.maxBytes,
      ],
      parse: (reply) => {
        const r = asArray(reply);
        const status = asNumber(r[0]);
        if (status === 2) return { status: 'full', reason: asString(r[1]) === 'bytes' ? 'bytes' : 'copies' };
        if (status === 0) return { status: 'stored', serverId: asString(r[1]), seq: asNumber(r[2]) };
        return {
          status: 'existing',
          serverId: asString(r[1]),
          seq: asNumber(r[2]),
          expiresAtMs: asNumber(r[3]),
          meta: asString(r[4]),
          payload: asBuffer(r[5]),
        };
      },
    };
  }
}

export type CapacityReply = 'ok' | 'copies' | 'bytes';

/** lua/check_capacity.lua — read-only: is there room for this copy (or is it already stored)? */
export class CheckCapacityScript {
  readonly script = LuaScript.fromFile('check_capacity');
  call(
    keys: QueueKeys,
    args: { idemField: string; size: number; maxCopies: number; maxBytes: number },
  ): ScriptCall<CapacityReply> {
    return {
      script: this.script,
      keys: [keys.order, keys.data],
      args: [args.idemField, args.size, args.maxCopies, args.maxBytes],
      parse: (reply) => {
        const n = asNumber(reply);
        return n === 0 ? 'ok' : n === 1 ? 'copies' : 'bytes';
      },
    };
  }
}

export interface RawPageEntry {
  serverId: string;
  seq: number;
  expiresAtMs: number;
  meta: string;
  payload: Buffer;
}
export interface ReadPageReply {
  more: boolean;
  cursor: number;
  entries: RawPageEntry[];
}

/** lua/read_page.lua — one page of a device queue in seq order, unexpired copies only. */
export class ReadPageScript {
  readonly script = LuaScript.fromFile('read_page');
  call(
    keys: QueueKeys,
    args: { afterSeq: number; limit: number; nowMs: number; maxBytes: number },
  ): ScriptCall<ReadPageReply> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data],
      args: [args.afterSeq, args.limit, args.nowMs, args.maxBytes],
      parse: (reply) => {
        const r = asArray(reply);
        const entries: RawPageEntry[] = [];
        for (let i = 2; i + 4 < r.length; i += 5) {
          entries.push({
            serverId: asString(r[i]),
            seq: asNumber(r[i + 1]),
            expiresAtMs: asNumber(r[i + 2]),
            meta: asString(r[i + 3]),
            payload: asBuffer(r[i + 4]),
          });
        }
        return { more: asNumber(r[0]) === 1, cursor: asNumber(r[1]), entries };
      },
    };
  }
}

export interface StaleCopyRef {
  serverId: string;
  seq: number;
}

/** lua/stale_copies.lua — the oldest unexpired copies of a queue stored at least min age ago. */
export class StaleCopiesScript {
  readonly script = LuaScript.fromFile('stale_copies');
  call(
    keys: QueueKeys,
    args: { minAgeMs: number; limit: number; nowMs: number },
  ): ScriptCall<StaleCopyRef[]> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry],
      args: [args.minAgeMs, args.limit, args.nowMs],
      parse: (reply) => {
        const r = asArray(reply);
        const out: StaleCopyRef[] = [];
        for (let i = 0; i + 1 < r.length; i += 2)
          out.push({ serverId: asString(r[i]), seq: asNumber(r[i + 1]) });
        return out;
      },
    };
  }
}

/** An outbox entry: id of the copy and its body ('d|<meta>' delivered or 'e|<meta>' expired). */
export interface RawOutboxEntry {
  copyServerId: string;
  body: string;
}

function outboxEntries(r: RawReply[], from: number): RawOutboxEntry[] {
  const out: RawOutboxEntry[] = [];
  for (let i = from; i + 1 < r.length; i += 2)
    out.push({ copyServerId: asString(r[i]), body: asString(r[i + 1]) });
  return out;
}

export interface AckReply {
  removed: number;
  /** -1 when the device holds nothing any more (its keys were deleted). */
  nextDueMs: number;
  outbox: RawOutboxEntry[];
}

/** lua/ack.lua — delete acknowledged copies of one device; delivered receipts go to its outbox. */
export class AckScript {
  readonly script = LuaScript.fromFile('ack');
  call(keys: QueueKeys, args: { leaseUntilMs: number; serverIds: readonly string[] }): ScriptCall<AckReply> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data, keys.outbox],
      args: [args.leaseUntilMs, ...args.serverIds],
      parse: (reply) => {
        const r = asArray(reply);
        return { removed: asNumber(r[0]), nextDueMs: asNumber(r[1]), outbox: outboxEntries(r, 2) };
      },
    };
  }
}

export interface ExpireReply {
  expired: number;
  nextDueMs: number;
  /** Outbox entries now leased to the caller (new 'expired' ones and re-claimed stale ones). */
  outbox: RawOutboxEntry[];
}

/** lua/expire.lua — move expired copies of one device to its outbox; claim stale outbox entries. */
export class ExpireScript {
  readonly script = LuaScript.fromFile('expire');
  call(
    keys: QueueKeys,
    args: { nowMs: number; limit: number; leaseUntilMs: number },
  ): ScriptCall<ExpireReply> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data, keys.outbox],
      args: [args.nowMs, args.limit, args.leaseUntilMs],
      parse: (reply) => {
        const r = asArray(reply);
        return { expired: asNumber(r[0]), nextDueMs: asNumber(r[1]), outbox: outboxEntries(r, 2) };
      },
    };
  }
}

/** lua/outbox_done.lua — drop outbox entries whose receipts are queued; returns next due (-1 = empty). */
export class OutboxDoneScript {
  readonly script = LuaScript.fromFile('outbox_done');
  call(keys: QueueKeys, args: { serverIds: readonly string[] }): ScriptCall<number> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data, keys.outbox],
      args: [...args.serverIds],
      parse: asNumber,
    };
  }
}

/** lua/next_due.lua — when the device next needs the sweeper (-1 = holds nothing). */
export class NextDueScript {
  readonly script = LuaScript.fromFile('next_due');
  call(keys: QueueKeys): ScriptCall<number> {
    return { script: this.script, keys: [keys.expiry, keys.outbox], args: [], parse: asNumber };
  }
}

/** lua/revoke_queue.lua — delete every key of one device queue; returns the copies dropped. */
export class RevokeQueueScript {
  readonly script = LuaScript.fromFile('revoke_queue');
  call(keys: QueueKeys): ScriptCall<number> {
    return {
      script: this.script,
      keys: [keys.order, keys.expiry, keys.data, keys.outbox],
      args: [],
      parse: asNumber,
    };
  }
}

/** lua/release_lock.lua — release a sweep lock if still held by this token. */
export class ReleaseLockScript {
  readonly script = LuaScript.fromFile('release_lock');
  call(lockKey: string, args: { token: string }): ScriptCall<boolean> {
    return { script: this.script, keys: [lockKey], args: [args.token], parse: (r) => asNumber(r) === 1 };
  }
}

export type PutChunkReply =
  | { status: 'ok'; chunksStored: number; complete: boolean; created: boolean }
  | { status: 'rejected'; reason: PutChunkRejection };

export type PutChunkRejection = 'not_found' | 'header' | 'too_large' | 'order' | 'size';
const REJECTIONS: readonly string[] = ['not_found', 'header', 'too_large', 'order', 'size'];

/** lua/blob_put_chunk.lua — store one chunk of a history blob (idempotent per index). */
export class BlobPutChunkScript {
  readonly script = LuaScript.fromFile('blob_put_chunk');
  call(
    keys: BlobKeys,
    args: {
      uploader: string;
      recipient: string;
      totalChunks: number;
      totalSize: number;
      index: number;
      chunk: Uint8Array;
      expiresAtMs: number;
      ttlMs: number;
      maxSize: number;
      mode: 'new' | 'existing';
    },
  ): ScriptCall<PutChunkReply> {
    return {
      script: this.script,
      keys: [keys.meta, keys.chunks],
      args: [
        args.uploader,
        args.recipient,
        args.totalChunks,
        args.totalSize,
        args.index,
        args.chunk,
        args.expiresAtMs,
        args.ttlMs,
        args.maxSize,
        args.mode,
      ],
      parse: (reply) => {
        const r = asArray(reply);
        if (asNumber(r[0]) === 0) {
          return {
            status: 'ok',
            chunksStored: asNumber(r[1]),
            complete: asNumber(r[2]) === 1,
            created: asNumber(r[3]) === 1,
          };
        }
        const reason = asString(r[1]);
        return {
          status: 'rejected',
          reason: (REJECTIONS.includes(reason) ? reason : 'size') as PutChunkRejection,
        };
      },
    };
  }
}

export type GetChunkReply =
  | { status: 'ok'; chunk: Buffer; totalChunks: number; totalSize: number; deleted: boolean }
  | { status: 'not_found'; expiredRecipient?: string }
  | { status: 'forbidden' | 'incomplete' | 'out_of_range' };

/** lua/blob_get_chunk.lua — hand a chunk to the blob's recipient; delete when all were fetched. */
export class BlobGetChunkScript {
  readonly script = LuaScript.fromFile('blob_get_chunk');
  call(keys: BlobKeys, args: { requester: string; index: number; nowMs: number }): ScriptCall<GetChunkReply> {
    return {
      script: this.script,
      keys: [keys.meta, keys.chunks],
      args: [args.requester, args.index, args.nowMs],
      parse: (reply) => {
        const r = asArray(reply);
        switch (asNumber(r[0])) {
          case 0:
            return {
              status: 'ok',
              chunk: asBuffer(r[1]),
              totalChunks: asNumber(r[2]),
              totalSize: asNumber(r[3]),
              deleted: asNumber(r[4]) === 1,
            };
          case 2:
            return { status: 'forbidden' };
          case 3:
            return { status: 'incomplete' };
          case 4:
            return { status: 'out_of_range' };
          default:
            return r[1] === undefined
              ? { status: 'not_found' }
              : { status: 'not_found', expiredRecipient: asString(r[1]) };
        }
      },
    };
  }
}

/** Every script, loaded once at start-up. */
export class Scripts {
  readonly storeCopy = new StoreCopyScript();
  readonly checkCapacity = new CheckCapacityScript();
  readonly readPage = new ReadPageScript();
  readonly staleCopies = new StaleCopiesScript();
  readonly ack = new AckScript();
  readonly expire = new ExpireScript();
  readonly outboxDone = new OutboxDoneScript();
  readonly nextDue = new NextDueScript();
  readonly revokeQueue = new RevokeQueueScript();
  readonly releaseLock = new ReleaseLockScript();
  readonly blobPutChunk = new BlobPutChunkScript();
  readonly blobGetChunk = new BlobGetChunkScript();

  all(): LuaScript[] {
    return [
      this.storeCopy,
      this.checkCapacity,
      this.readPage,
      this.staleCopies,
      this.ack,
      this.expire,
      this.outboxDone,
      this.nextDue,
      this.revokeQueue,
      this.releaseLock,
      this.blobPutChunk,
      this.blobGetChunk,
    ].map((s) => s.script);
  }
}
