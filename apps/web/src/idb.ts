import type { KeyValueStore } from '@tandem/sdk';

/**
 * The page's one IndexedDB database. Three object stores:
 * - `keys`: the SDK's KeyValueStore (identity, prekeys, sessions, trust records); never leaves
 *   the device;
 * - `messages`: decrypted conversations, so a reload shows them (local device storage only);
 * - `contacts`: handles the person looked up, by account id.
 */
export const DB_NAME = 'tandem-web';
const DB_VERSION = 1;
export const KEYS = 'keys';
export const MESSAGES = 'messages';
export const CONTACTS = 'contacts';

export function openDatabase(name = DB_NAME, factory: IDBFactory = indexedDB): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS);
      if (!db.objectStoreNames.contains(MESSAGES)) db.createObjectStore(MESSAGES, { keyPath: 'id' });
      if (!db.objectStoreNames.contains(CONTACTS)) db.createObjectStore(CONTACTS, { keyPath: 'accountId' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error(`cannot open IndexedDB database ${name}`));
    req.onblocked = () => reject(new Error(`IndexedDB database ${name} is blocked by another tab`));
  });
}

/** Resolves with a request's result once its transaction has committed. */
export function run<T>(
  db: IDBDatabase,
  stores: string | string[],
  mode: IDBTransactionMode,
  body: (tx: IDBTransaction) => IDBRequest<T> | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const tx = db.transaction(stores, mode);
    let request: IDBRequest<T> | undefined;
    try {
      request = body(tx);
    } catch (err) {
      // A put that throws (e.g. a value that cannot be cloned) aborts the whole transaction:
      // nothing of it is written.
      try {
        tx.abort();
      } catch {
        // already finished
      }
      reject(err);
      return;
    }
    tx.oncomplete = () => resolve(request?.result as T);
    tx.onerror = () => reject(tx.error ?? request?.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/**
 * The SDK's KeyValueStore on IndexedDB. Each `write` is one readwrite transaction, so it is all
 * or nothing, as the SDK requires (a session step and what it decrypted are saved together).
 */
export class IndexedDbStore implements KeyValueStore {
  constructor(private readonly db: IDBDatabase) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await run<unknown>(this.db, KEYS, 'readonly', (tx) => tx.objectStore(KEYS).get(key));
    return value instanceof Uint8Array ? value.slice() : undefined;
  }

  write(entries: ReadonlyArray<readonly [string, Uint8Array | undefined]>): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return run<undefined>(this.db, KEYS, 'readwrite', (tx) => {
      const store = tx.objectStore(KEYS);
      for (const [key, value] of entries) {
        if (value === undefined) store.delete(key);
        else store.put(value.slice(), key);
      }
      return undefined;
    });
  }

  async list(prefix: string): Promise<string[]> {
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, false);
    const keys = await run<IDBValidKey[]>(this.db, KEYS, 'readonly', (tx) =>
      tx.objectStore(KEYS).getAllKeys(range),
    );
    return keys
      .filter((k): k is string => typeof k === 'string' && k.startsWith(prefix))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async clear(): Promise<void> {
    await run<undefined>(this.db, KEYS, 'readwrite', (tx) => tx.objectStore(KEYS).clear());
  }
}
