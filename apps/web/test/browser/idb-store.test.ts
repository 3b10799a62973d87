import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { ChatMessage, ChatStore } from '../../src/chats.js';
import type { IndexedDbStore, openDatabase } from '../../src/idb.js';
import { haveChromium, idbHarnessDir, launchChromium, servePage } from '../browser.js';

// The page's IndexedDB modules, run in Chromium's real IndexedDB (no fake).
declare const tandemIdb: {
  IndexedDbStore: new (db: IDBDatabase) => IndexedDbStore;
  ChatStore: new (db: IDBDatabase) => ChatStore;
  openDatabase: typeof openDatabase;
};

const describeBrowser = haveChromium ? describe : describe.skip;

describeBrowser('IndexedDbStore and ChatStore in Chromium', () => {
  let site: { url: string; close: () => Promise<void> };
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    [site, browser] = await Promise.all([servePage(idbHarnessDir), launchChromium()]);
    page = await browser.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => document.title === 'ready');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('gets what was written, lists keys by prefix in order, deletes with undefined, clears', async () => {
    const result = await page.evaluate(async () => {
      const store = new tandemIdb.IndexedDbStore(await tandemIdb.openDatabase('t-basic'));
      const b = (...x: number[]) => new Uint8Array(x);
      await store.write([
        ['session/b/2', b(2)],
        ['session/a/1', b(1)],
        ['sessions', b(9)],
        ['device', b(7, 7)],
      ]);
      const got = await store.get('device');
      got![0] = 0; // a copy: changing it changes nothing stored
      const again = await store.get('device');
      const listed = await store.list('session/');
      const all = await store.list('');
      await store.write([
        ['session/a/1', undefined],
        ['device', b(8)],
      ]);
      const afterDelete = { list: await store.list('session/'), device: [...(await store.get('device'))!] };
      const missing = await store.get('nope');
      await store.clear();
      return { again: [...again!], listed, all, afterDelete, missing, cleared: await store.list('') };
    });
    expect(result.again).toEqual([7, 7]);
    expect(result.listed).toEqual(['session/a/1', 'session/b/2']);
    expect(result.all).toEqual(['device', 'session/a/1', 'session/b/2', 'sessions']);
    expect(result.afterDelete).toEqual({ list: ['session/b/2'], device: [8] });
    expect(result.missing).toBeUndefined();
    expect(result.cleared).toEqual([]);
  });

  it('writes all entries or none: a failing entry leaves the earlier ones unwritten', async () => {
    const result = await page.evaluate(async () => {
      const store = new tandemIdb.IndexedDbStore(await tandemIdb.openDatabase('t-atomic'));
      await store.write([['kept', new Uint8Array([1])]]);
      // A value whose copy is a function: IndexedDB cannot store it, the put throws mid-write.
      const poison = { slice: () => () => 0 } as unknown as Uint8Array;
      const error = await store
        .write([
          ['first', new Uint8Array([1])],
          ['kept', undefined],
          ['poison', poison],
        ])
        .then(
          () => 'resolved',
          (e: unknown) => (e instanceof Error ? e.name : String(e)),
        );
      return { error, keys: await store.list('') };
    });
    expect(result.error).toBe('DataCloneError');
    expect(result.keys).toEqual(['kept']);
  });

  it('keeps its data across a reload', async () => {
    await page.evaluate(async () => {
      const store = new tandemIdb.IndexedDbStore(await tandemIdb.openDatabase('t-reload'));
      await store.write([['device', new Uint8Array([42])]]);
    });
    await page.reload();
    await page.waitForFunction(() => document.title === 'ready');
    const value = await page.evaluate(async () => {
      const store = new tandemIdb.IndexedDbStore(await tandemIdb.openDatabase('t-reload'));
      const v = await store.get('device');
      return v ? [...v] : undefined;
    });
    expect(value).toEqual([42]);
  });

  it('records receipts on stored messages; a late "queued" never overwrites a final state', async () => {
    const result = await page.evaluate(async () => {
      const chats = new tandemIdb.ChatStore(await tandemIdb.openDatabase('t-chats'));
      const m: ChatMessage = {
        id: 'out:1',
        with: 'bob',
        direction: 'out',
        from: { accountId: 'alice', deviceId: 2 },
        text: 'hi',
        at: 1,
        copies: { 'bob/1': 'queued', 'alice/1': 'queued' },
        source: 'live',
      };
      await chats.putMany([m]);
      const missing = await chats.applyReceipt('out:nope', 'bob/1', 'delivered');
      await chats.applyReceipt('out:1', 'bob/1', 'delivered');
      await chats.applyReceipt('out:1', 'alice/1', 'expired');
      await chats.applyReceipt('out:1', 'bob/1', 'queued');
      const [stored] = await chats.all();
      await chats.putContact({ accountId: 'bob', handle: 'bob' });
      await chats.clear();
      return {
        missing,
        copies: stored!.copies,
        afterClear: [(await chats.all()).length, (await chats.contacts()).length],
      };
    });
    expect(result.missing).toBe(false);
    expect(result.copies).toEqual({ 'bob/1': 'delivered', 'alice/1': 'expired' });
    expect(result.afterClear).toEqual([0, 0]);
  });
});
