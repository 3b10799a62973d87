import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { FileStore, type FileSystem, type KeyValueStore, MemoryStore } from '../../src/store.js';

const bytes = (...v: number[]) => Uint8Array.from(v);

async function behavesLikeAStore(store: KeyValueStore) {
  expect(await store.get('a')).toBeUndefined();
  await store.write([
    ['session/x/1', bytes(1)],
    ['session/x/2', bytes(2)],
    ['seen/s', bytes(3)],
  ]);
  expect(await store.get('session/x/2')).toEqual(bytes(2));
  expect(await store.list('session/')).toEqual(['session/x/1', 'session/x/2']);
  await store.write([
    ['session/x/1', undefined],
    ['seen/s', bytes(4)],
  ]);
  expect(await store.list('session/')).toEqual(['session/x/2']);
  expect(await store.get('seen/s')).toEqual(bytes(4));
  // Values are copies: mutating what was written or read changes nothing stored.
  const v = bytes(9);
  await store.write([['k', v]]);
  v[0] = 0;
  (await store.get('k'))![0] = 7;
  expect(await store.get('k')).toEqual(bytes(9));
  await store.clear();
  expect(await store.list('')).toEqual([]);
}

describe('MemoryStore', () => {
  it('gets, writes, deletes, lists by prefix and clears', async () => {
    await behavesLikeAStore(new MemoryStore());
  });
});

describe('FileStore', () => {
  it('behaves like a store and persists across instances in a 0600 file', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'tandem-sdk-')), 'device.json');
    await behavesLikeAStore(await FileStore.open(path));
    const a = await FileStore.open(path);
    await a.write([['device', bytes(1, 2, 3)]]);
    const b = await FileStore.open(path);
    expect(await b.get('device')).toEqual(bytes(1, 2, 3));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8')).version).toBe(1);
  });

  it('keeps the previous contents when a write fails half-way (atomic rename)', async () => {
    const files = new Map<string, Uint8Array>();
    let failRename = false;
    const fs: FileSystem = {
      readFile: async (p) => {
        const f = files.get(p);
        if (!f) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
        return f;
      },
      writeFile: async (p, d) => void files.set(p, d),
      rename: async (a, b) => {
        if (failRename) throw new Error('disk full');
        files.set(b, files.get(a)!);
        files.delete(a);
      },
      rm: async (p) => void files.delete(p),
    };
    const store = new FileStore('/dev.json', fs);
    await store.write([['a', bytes(1)]]);
    failRename = true;
    await expect(
      store.write([
        ['a', bytes(2)],
        ['b', bytes(3)],
      ]),
    ).rejects.toThrow('disk full');
    expect(await store.get('a')).toEqual(bytes(1));
    expect(await store.get('b')).toBeUndefined();
    const reopened = new FileStore('/dev.json', fs);
    expect(await reopened.get('a')).toEqual(bytes(1));
    failRename = false;
    await store.write([['b', bytes(3)]]);
    expect(await new FileStore('/dev.json', fs).get('b')).toEqual(bytes(3));
  });
});
