/**
 * Where a device keeps its keys, sessions and bookkeeping. The SDK writes through this interface
 * only; back it with any database by implementing four methods. `write` must be atomic (all
 * entries or none): the SDK relies on it to save a session step together with what it decrypted
 * before acknowledging a message, so a crash never loses a session step or a message.
 */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Sets each key to its value, or deletes it when the value is undefined; all or nothing. */
  write(entries: ReadonlyArray<readonly [key: string, value: Uint8Array | undefined]>): Promise<void>;
  /** Keys starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** Deletes everything (used when the device is unlinked). */
  clear(): Promise<void>;
}

/** Keeps everything in memory: for tests and short-lived devices. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(key);
    return v === undefined ? undefined : v.slice();
  }

  async write(entries: ReadonlyArray<readonly [string, Uint8Array | undefined]>): Promise<void> {
    for (const [k, v] of entries) {
      if (v === undefined) this.map.delete(k);
      else this.map.set(k, v.slice());
    }
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async clear(): Promise<void> {
    this.map.clear();
  }
}

/** A minimal file-system surface, so FileStore carries no hard dependency on node:fs. */
export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array, options: { mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

const b64 = {
  encode: (b: Uint8Array) => {
    let s = '';
    for (const x of b) s += String.fromCharCode(x);
    return btoa(s);
  },
  decode: (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)),
};

/**
 * Keeps everything in one JSON file (mode 0600), rewritten atomically (write to a temporary file,
 * then rename) on every write. Suits a CLI or a desktop device; the whole map stays in memory.
 */
export class FileStore implements KeyValueStore {
  private cache: Map<string, Uint8Array> | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly fs: FileSystem,
  ) {}

  /** A FileStore on Node's file system. */
  static async open(path: string): Promise<FileStore> {
    const fs = await import('node:fs/promises');
    return new FileStore(path, {
      readFile: (p) => fs.readFile(p),
      writeFile: (p, d, o) => fs.writeFile(p, d, o),
      rename: (a, b) => fs.rename(a, b),
      rm: (p, o) => fs.rm(p, o),
    });
  }

  private async load(): Promise<Map<string, Uint8Array>> {
    if (this.cache) return this.cache;
    const map = new Map<string, Uint8Array>();
    try {
      const text = new TextDecoder().decode(await this.fs.readFile(this.path));
      const json = JSON.parse(text) as { version: number; entries: Record<string, string> };
      if (json.version !== 1) throw new Error(`unsupported store version ${json.version}`);
      for (const [k, v] of Object.entries(json.entries)) map.set(k, b64.decode(v));
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
    this.cache = map;
    return map;
  }

  private async persist(map: Map<string, Uint8Array>): Promise<void> {
    const entries: Record<string, string> = {};
    for (const [k, v] of map) entries[k] = b64.encode(v);
    const tmp = `${this.path}.tmp`;
    await this.fs.writeFile(tmp, new TextEncoder().encode(JSON.stringify({ version: 1, entries })), {
      mode: 0o600,
    });
    await this.fs.rename(tmp, this.path);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.load()).get(key)?.slice();
  }

  write(entries: ReadonlyArray<readonly [string, Uint8Array | undefined]>): Promise<void> {
    const run = async () => {
      const current = await this.load();
      const next = new Map(current);
      for (const [k, v] of entries) {
        if (v === undefined) next.delete(k);
        else next.set(k, v.slice());
      }
      await this.persist(next);
      this.cache = next;
    };
    const result = this.chain.then(run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  async list(prefix: string): Promise<string[]> {
    return [...(await this.load()).keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  clear(): Promise<void> {
    const run = async () => {
      await this.fs.rm(this.path, { force: true });
      this.cache = new Map();
    };
    const result = this.chain.then(run);
    this.chain = result.catch(() => undefined);
    return result;
  }
}
