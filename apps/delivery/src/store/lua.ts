import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Cluster, type Redis } from 'ioredis';

const LUA_DIR = new URL('../../lua/', import.meta.url);

/** A single Redis or a Redis Cluster client. */
export type RedisClient = Redis | Cluster;

/** Raw reply of a script called through callBuffer: bulk strings arrive as Buffers. */
export type RawReply = Buffer | number | null | RawReply[];

/** One Lua script file of lua/, loaded once with SCRIPT LOAD and called by its SHA-1. */
export class LuaScript {
  readonly sha: string;
  private constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  static fromFile(name: string): LuaScript {
    return new LuaScript(name, readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8'));
  }

  /** SCRIPT LOAD on the server (on every primary of a cluster). */
  async load(redis: RedisClient): Promise<void> {
    const targets = redis instanceof Cluster ? redis.nodes('master') : [redis];
    for (const node of targets) {
      const sha = await node.script('LOAD', this.source);
      if (sha !== this.sha) throw new Error(`script ${this.name}: SCRIPT LOAD returned an unexpected sha`);
    }
  }
}

/** One call of a script: its labelled keys and arguments, and how to read its reply. */
export interface ScriptCall<T> {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly (string | number | Buffer | Uint8Array)[];
  parse(reply: RawReply): T;
}

/** Either the parsed reply or the command's error, per call of a batch. */
export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A plain command run after a batch's scripts, e.g. ['ZADD', key, 'LT', score, member]. */
export type PlainCommand = readonly [string, ...(string | number)[]];

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

function scriptArgs(call: ScriptCall<unknown>): (string | Buffer | number)[] {
  return [
    call.keys.length,
    ...call.keys,
    ...call.args.map((a) =>
      a instanceof Uint8Array && !Buffer.isBuffer(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : a,
    ),
  ] as (string | Buffer | number)[];
}

/**
 * Runs script calls by SHA (EVALSHA), alone or batched. A NOSCRIPT reply (the script cache was
 * flushed, a failover, a cluster node added later) runs that call once with EVAL, which also
 * caches the script on that node: the call never ran, so the retry is exact.
 *
 * On a single Redis a batch is one pipeline (one round trip), its plain commands after the
 * scripts on the same connection. On a cluster the calls go out concurrently (auto-pipelined
 * per node) and the plain commands are sent only once every script has answered, so they still
 * land after them.
 */
export class ScriptRunner {
  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: readonly LuaScript[],
  ) {}

  /** SCRIPT LOAD of every script; call once at start-up. */
  async loadAll(): Promise<void> {
    await Promise.all(this.scripts.map((s) => s.load(this.redis)));
  }

  async run<T>(call: ScriptCall<T>): Promise<T> {
    try {
      return call.parse(
        (await this.redis.callBuffer('EVALSHA', call.script.sha, ...scriptArgs(call))) as RawReply,
      );
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return call.parse(
        (await this.redis.callBuffer('EVAL', call.script.source, ...scriptArgs(call))) as RawReply,
      );
    }
  }

  /** Runs the calls (results per call: one failing does not fail the others), then `after`. */
  async batch<T>(
    calls: readonly ScriptCall<T>[],
    after: readonly PlainCommand[] = [],
  ): Promise<BatchResult<T>[]> {
    if (calls.length === 0 && after.length === 0) return [];
    if (this.redis instanceof Cluster) {
      const results = await Promise.all(
        calls.map((call) =>
          this.run(call).then(
            (value): BatchResult<T> => ({ ok: true, value }),
            (error: unknown): BatchResult<T> => ({ ok: false, error: error as Error }),
          ),
        ),
      );
      await Promise.all(after.map(([cmd, ...args]) => this.redis.call(cmd, ...args)));
      return results;
    }
    const pipeline = this.redis.pipeline();
    for (const call of calls) pipeline.callBuffer('EVALSHA', call.script.sha, ...scriptArgs(call));
    for (const [cmd, ...args] of after) pipeline.call(cmd, ...args);
    const replies = (await pipeline.exec()) ?? [];
    const results: BatchResult<T>[] = [];
    let retried = false;
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      const [err, reply] = replies[i] ?? [new Error('no reply'), null];
      if (err && isNoScript(err)) {
        retried = true;
        try {
          results.push({ ok: true, value: await this.run(call) });
        } catch (retryErr) {
          results.push({ ok: false, error: retryErr as Error });
        }
      } else if (err) {
        results.push({ ok: false, error: err });
      } else {
        try {
          results.push({ ok: true, value: call.parse(reply as RawReply) });
        } catch (parseErr) {
          results.push({ ok: false, error: parseErr as Error });
        }
      }
    }
    for (let i = calls.length; i < replies.length; i++) {
      const err = replies[i]?.[0];
      if (err) throw err;
    }
    // A script retried after NOSCRIPT ran after the plain commands: send them again (they are
    // idempotent) so that they still land after every script.
    if (retried && after.length > 0) {
      const again = this.redis.pipeline();
      for (const [cmd, ...args] of after) again.call(cmd, ...args);
      await again.exec();
    }
    return results;
  }
}

// Reply readers.
export const asString = (r: RawReply | undefined): string => {
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  if (typeof r === 'number') return String(r);
  throw new TypeError('unexpected script reply: expected a string');
};
export const asNumber = (r: RawReply | undefined): number => {
  if (typeof r === 'number') return r;
  if (Buffer.isBuffer(r)) {
    const n = Number(r.toString('utf8'));
    if (Number.isFinite(n)) return n;
  }
  throw new TypeError('unexpected script reply: expected a number');
};
export const asArray = (r: RawReply | undefined): RawReply[] => {
  if (Array.isArray(r)) return r;
  throw new TypeError('unexpected script reply: expected an array');
};
export const asBuffer = (r: RawReply | undefined): Buffer => {
  if (Buffer.isBuffer(r)) return r;
  if (r === null || r === undefined) return Buffer.alloc(0);
  throw new TypeError('unexpected script reply: expected bytes');
};
