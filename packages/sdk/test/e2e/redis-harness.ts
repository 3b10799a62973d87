// A private Redis server for end-to-end tests that take Redis away from a running stack: a
// redis-server child process on a free loopback port, persisting every write to its append-only
// file before answering (`--appendonly yes --appendfsync always`) in a temporary directory, so a
// SIGKILL loses nothing it acknowledged. It is killed with SIGKILL and started again on the same
// port and data. Other test files share the machine's Redis on 6379, which these tests never touch.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './nats-harness.js';

/** The redis-server binary: on PATH, else Debian's /usr/bin/redis-server. */
export function findRedisServer(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const candidate of [...dirs.map((d) => join(d, 'redis-server')), '/usr/bin/redis-server']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    'redis-server not found on PATH or at /usr/bin/redis-server; this test runs its own Redis server. ' +
      'Install it (Debian/Ubuntu: apt-get install redis-server) and run the test again.',
  );
}

/** A redis-server child process with AOF persistence on a fixed loopback port. */
export class RedisServer {
  private child: ChildProcess | undefined;
  /** How many times the server was started (1 after `RedisServer.start()`). */
  starts = 0;

  private constructor(
    private readonly binary: string,
    readonly port: number,
    /** Its data directory (the append-only files), kept across kill and start. */
    readonly dir: string,
  ) {}

  /** A server on a free port with a fresh data directory, started. */
  static async start(): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-redis-'));
    const server = new RedisServer(findRedisServer(), await freePort(), dir);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts redis-server on the same port and data directory; resolves once it has loaded the
   * append-only file and accepts connections.
   */
  start(): Promise<void> {
    if (this.child) return Promise.resolve();
    const child = spawn(
      this.binary,
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--logfile',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.starts++;
    return new Promise((resolve, reject) => {
      let log = '';
      let ready = false;
      const fail = (why: string) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`redis-server on port ${this.port} ${why}:\n${log}`));
      };
      const timer = setTimeout(() => fail('did not get ready within 10 s'), 10_000);
      const onData = (chunk: Buffer) => {
        if (ready) return;
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) => fail(`did not start (${err.message})`));
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        fail(`exited (${signal ?? code})`);
      });
    });
  }

  /** SIGKILL: no shutdown save, clients' sockets just break; the AOF holds every acknowledged write. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills the server (if running) and deletes its data directory. */
  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
