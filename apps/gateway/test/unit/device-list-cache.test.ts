import { describe, expect, it } from '@jest/globals';
import { DeviceListCache, type DeviceListSource } from '../../src/services/device-list-cache.js';
import type { DeviceSet } from '../../src/services/device-set.js';

class CountingSource implements DeviceListSource {
  calls: string[][] = [];
  lists = new Map<string, DeviceSet>();
  gate: Promise<void> | undefined;
  async getDeviceLists(ids: readonly string[]) {
    this.calls.push([...ids]);
    const snapshot = new Map([...this.lists].filter(([id]) => ids.includes(id)));
    if (this.gate !== undefined) await this.gate;
    return snapshot;
  }
}

describe('DeviceListCache', () => {
  it('serves repeated lookups from the cache and fetches only what is missing', async () => {
    const source = new CountingSource();
    source.lists.set('a', new Map([[1, 1]]));
    source.lists.set('b', new Map([[1, 2]]));
    const cache = new DeviceListCache(source, 10);
    await cache.get(['a']);
    const both = await cache.get(['a', 'b']);
    expect(source.calls).toEqual([['a'], ['b']]);
    expect(both.get('b')).toEqual(new Map([[1, 2]]));
    await cache.get(['a', 'b']);
    expect(source.calls).toHaveLength(2);
  });

  it('refetches after an invalidation and when asked for fresh lists', async () => {
    const source = new CountingSource();
    source.lists.set('a', new Map([[1, 1]]));
    const cache = new DeviceListCache(source, 10);
    await cache.get(['a']);
    source.lists.set(
      'a',
      new Map([
        [1, 1],
        [2, 5],
      ]),
    );
    cache.invalidate('a');
    expect((await cache.get(['a'])).get('a')?.size).toBe(2);
    await cache.get(['a'], true);
    expect(source.calls).toHaveLength(3);
  });

  it('does not store a fetch that raced with an invalidation', async () => {
    const source = new CountingSource();
    source.lists.set('a', new Map([[1, 1]]));
    const cache = new DeviceListCache(source, 10);
    let release!: () => void;
    source.gate = new Promise((r) => (release = r));
    const pending = cache.get(['a']);
    cache.invalidate('a');
    release();
    await pending;
    source.gate = undefined;
    await cache.get(['a']);
    expect(source.calls).toHaveLength(2);
  });

  it('forgets everything on clear(), including fetches in flight', async () => {
    const source = new CountingSource();
    source.lists.set('a', new Map([[1, 1]]));
    source.lists.set('b', new Map([[1, 1]]));
    const cache = new DeviceListCache(source, 10);
    await cache.get(['a']);
    let release!: () => void;
    source.gate = new Promise((r) => (release = r));
    const pending = cache.get(['b']);
    cache.clear();
    release();
    await pending;
    source.gate = undefined;
    await cache.get(['a', 'b']);
    expect(source.calls).toEqual([['a'], ['b'], ['a', 'b']]);
  });

  it('leaves unknown accounts out and does not cache them', async () => {
    const source = new CountingSource();
    const cache = new DeviceListCache(source, 10);
    expect((await cache.get(['nope'])).size).toBe(0);
    await cache.get(['nope']);
    expect(source.calls).toHaveLength(2);
  });
});
