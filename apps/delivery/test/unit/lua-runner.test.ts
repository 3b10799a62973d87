import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { asNumber, ScriptRunner } from '../../src/store/lua.js';
import { Scripts } from '../../src/store/scripts.js';

/** A Redis stand-in whose script cache can be "flushed": EVALSHA answers NOSCRIPT until loaded. */
class FakeRedis {
  loaded = new Set<string>();
  calls: string[] = [];
  async script(_op: 'LOAD', source: string): Promise<string> {
    const sha = createHash('sha1').update(source).digest('hex');
    this.calls.push('LOAD');
    this.loaded.add(sha);
    return sha;
  }
  async callBuffer(cmd: string, shaOrSource: string): Promise<number> {
    this.calls.push(cmd);
    // EVAL runs the source and caches it, as Redis does.
    if (cmd === 'EVAL') this.loaded.add(createHash('sha1').update(shaOrSource).digest('hex'));
    else if (!this.loaded.has(shaOrSource)) throw new Error('NOSCRIPT No matching script. Please use EVAL.');
    return 7;
  }
}

describe('ScriptRunner', () => {
  const scripts = new Scripts();
  const call = {
    ...scripts.nextDue.call({ order: 'z', expiry: 'x', data: 'h', outbox: 'o', blobs: 'b' }),
    parse: asNumber,
  };

  it('calls scripts by sha and runs one whose cache entry is gone (NOSCRIPT) once with EVAL', async () => {
    const fake = new FakeRedis();
    const runner = new ScriptRunner(fake as unknown as Redis, scripts.all());
    expect(await runner.run(call)).toBe(7);
    expect(fake.calls).toEqual(['EVALSHA', 'EVAL']);
    fake.calls = [];
    expect(await runner.run(call)).toBe(7);
    expect(fake.calls).toEqual(['EVALSHA']);
  });

  it('loads every script file of lua/ at start-up', async () => {
    const fake = new FakeRedis();
    await new ScriptRunner(fake as unknown as Redis, scripts.all()).loadAll();
    expect(fake.loaded.size).toBe(scripts.all().length);
    expect(
      scripts
        .all()
        .map((s) => s.name)
        .sort(),
    ).toEqual([
      'ack',
      'blob_get_chunk',
      'blob_put_chunk',
      'check_capacity',
      'expire',
      'next_due',
      'outbox_done',
      'read_page',
      'release_lock',
      'revoke_queue',
      'stale_copies',
      'store_copy',
    ]);
  });

  it('does not swallow other errors', async () => {
    const fake = new FakeRedis();
    fake.callBuffer = async () => {
      throw new Error('ERR something else');
    };
    const runner = new ScriptRunner(fake as unknown as Redis, scripts.all());
    await expect(runner.run(call)).rejects.toThrow('ERR something else');
  });
});
