import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';

/** A throw-away Redis Cluster of local redis-server processes (no replicas), for one test file. */
export interface LocalCluster {
  readonly seedUrl: string;
  readonly client: Cluster;
  /** Keys matching `pattern` on every primary. */
  keys(pattern: string): Promise<string[]>;
  /** Primaries holding at least one key matching `pattern`. */
  nodesWithKeys(pattern: string): Promise<number>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

async function portPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p > 55_000) continue;
    // The cluster bus listens on port + 10000.
    const bus = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p + 10_000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (bus) return p;
  }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`local cluster: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts `nodes` redis-server processes in cluster mode; undefined when redis-server is not installed. */
export async function startLocalCluster(nodes = 3): Promise<LocalCluster | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'delivery-cluster-'));
  const ports: number[] = [];
  const procs: ChildProcess[] = [];
  const stopProcs = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const port = await portPair();
      ports.push(port);
      procs.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--cluster-node-timeout',
            '3000',
            '--protected-mode',
            'no',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      await until(async () => {
        const r = new Redis(port, '127.0.0.1', {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        try {
          await r.connect();
          return (await r.ping()) === 'PONG';
        } finally {
          r.disconnect();
        }
      }, `node ${port}`);
    }
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      await until(async () => {
        const r = new Redis(port, '127.0.0.1', { lazyConnect: true });
        try {
          await r.connect();
          return (await r.cluster('INFO')).includes('cluster_state:ok');
        } finally {
          r.disconnect();
        }
      }, `cluster_state:ok on ${port}`);
    }
  } catch (err) {
    await stopProcs();
    throw err;
  }
  const client = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], { lazyConnect: true });
  await client.connect();
  const keysOn = async (node: Redis, pattern: string) => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    seedUrl: `redis://127.0.0.1:${ports[0]}`,
    client,
    async keys(pattern) {
      return (await Promise.all(client.nodes('master').map((n) => keysOn(n, pattern)))).flat();
    },
    async nodesWithKeys(pattern) {
      const per = await Promise.all(client.nodes('master').map((n) => keysOn(n, pattern)));
      return per.filter((k) => k.length > 0).length;
    },
    async stop() {
      client.disconnect();
      await stopProcs();
    },
  };
}
