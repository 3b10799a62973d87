// The `tandem` CLI as a user runs it: a child process started from source, talking to the real
// gateway, registry and delivery. The CLI's Double Ratchet runs on OpenSSL (it calls
// useNodeRatchetPrimitives() at start-up) while the SDK devices in this process use the pure-JS
// @noble default, so every message below crosses between the two implementations.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { activeRatchetPrimitives } from '@tandem/crypto/node';
import { type InboundMessage, MemoryStore, TandemClient } from '../../src/index.js';
import { collect, handle, options, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

const SDK_DIR = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
// The module the CLI loads for `@tandem/crypto/node` under the @tandem/source condition (real path,
// as Node resolves it), so the probe below reads the CLI's own ratchet state.
const CRYPTO_NODE = pathToFileURL(
  realpathSync(fileURLToPath(new URL('../../../crypto/src/node.ts', import.meta.url))),
).href;
// Preloaded into every CLI process: on exit, writes which primitives its ratchet used to stderr.
const PROBE_PREFIX = 'cli-test: ratchet primitives = ';
const PROBE = `data:text/javascript,import { activeRatchetPrimitives } from ${JSON.stringify(CRYPTO_NODE)};
process.on('exit', () => process.stderr.write(${JSON.stringify(PROBE_PREFIX)} + activeRatchetPrimitives() + '\\n'));`;

/** Bound on every wait for the CLI (it starts from source in a second or two). */
const CLI_TIMEOUT_MS = 30_000;

interface Cli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the stream's output so far or to come. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<RegExpMatchArray>;
  /** Settles when the process has exited and its output streams have closed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<Cli>();

/** `what` may be a function, called at the timeout, so the message shows the output by then. */
function withTimeout<T>(promise: Promise<T>, what: string | (() => string), ms = CLI_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function cli(args: string[]): Cli {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the CLI
  delete env.TANDEM_URL;
  delete env.TANDEM_STORE;
  const child = spawn(
    process.execPath,
    ['--conditions=@tandem/source', '--import', 'tsx', '--import', PROBE, CLI, ...args],
    { cwd: SDK_DIR, env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  let closed = false;
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      text[stream] += chunk;
      for (const check of [...waiters]) check();
    });
  }
  child.on('error', (error) => {
    text.stderr += `spawn failed: ${error.message}\n`;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      closed = true;
      for (const check of [...waiters]) check();
      resolve({ code, signal });
    });
  });
  const self: Cli = {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor(stream, pattern, what) {
      return withTimeout(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = () => {
            const match = text[stream].match(pattern);
            if (match) {
              waiters.delete(check);
              resolve(match);
            } else if (closed) {
              waiters.delete(check);
              reject(
                new Error(
                  `tandem ${args[0]} exited before ${what}\nstdout:\n${text.stdout}\nstderr:\n${text.stderr}`,
                ),
              );
            }
          };
          waiters.add(check);
          check();
        }),
        () => `${what} (tandem ${args[0]})\nstdout so far:\n${text.stdout}\nstderr so far:\n${text.stderr}`,
      );
    },
  };
  children.add(self);
  void exited.then(() => children.delete(self));
  return self;
}

/** Runs a CLI command that ends by itself; returns its stdout after a successful exit. */
async function run(args: string[]): Promise<string> {
  const c = cli(args);
  c.child.stdin.end();
  const { code, signal } = await withTimeout(c.exited, `tandem ${args[0]} to exit`);
  if (code !== 0) {
    throw new Error(
      `tandem ${args[0]} exited with ${code ?? signal}\nstdout:\n${c.stdout()}\nstderr:\n${c.stderr()}`,
    );
  }
  expectOpenSslRatchet(c);
  return c.stdout();
}

/** The probe's report: the CLI process ran its ratchet on node:crypto, not on @noble. */
function expectOpenSslRatchet(c: Cli): void {
  expect(c.stderr()).toContain(`${PROBE_PREFIX}node:crypto\n`);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the tandem CLI (ratchet on OpenSSL) and an SDK device (ratchet on @noble) talk through the real stack', () => {
  let stack: Stack;
  let dir: string;
  let storeFile: string;
  const aliceHandle = handle('alice_cli');
  let aliceAccount: string;
  const bobStore = new MemoryStore();
  let bob: TandemClient;
  let cliMessageId: string;

  beforeAll(async () => {
    stack = await startStack();
    dir = await mkdtemp(join(tmpdir(), 'tandem-cli-e2e-'));
    storeFile = join(dir, 'alice-cli.json');
  });

  afterAll(async () => {
    for (const c of [...children]) {
      c.child.kill('SIGKILL');
      await c.exited;
    }
    await bob?.close();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const common = () => ['--server', stack.url(), '--store', storeFile];

  it('registers a new account from the CLI with the verification code the registry sent for its handle', async () => {
    const c = cli(['register', aliceHandle, ...common(), '--name', 'alice cli']);
    // The CLI asks for the code once the registry has sent it (each register requests a fresh code).
    await c.waitFor('stderr', /verification code/, 'the verification code prompt');
    const code = stack.codes.sent.get(aliceHandle);
    expect(code).toMatch(/^\d{6}$/);
    c.child.stdin.end(`${code}\n`);
    await c.waitFor(
      'stdout',
      new RegExp(
        `^registered ${escapeRegExp(aliceHandle)}: this device \\(alice cli\\) is its primary, the phone$`,
        'm',
      ),
      'the registration line',
    );
    const { code: exitCode } = await withTimeout(c.exited, 'tandem register to exit');
    expect(exitCode).toBe(0);
    expectOpenSslRatchet(c);
    bob = await registerPhone(stack, 'bob', { store: bobStore });
    aliceAccount = await bob.lookup(aliceHandle);
    expect(activeRatchetPrimitives()).toBe('noble');
  }, 60_000);

  it('delivers a message sent with `tandem send` to the SDK device, decrypted to the same text, exactly once', async () => {
    expect(aliceAccount).toBeDefined();
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const out = await run(['send', bob.handle, 'hello from the cli', ...common()]);
    const sent = out.match(/^sent to \S+: 1 device \(message (\S+)\)$/m);
    expect(sent).not.toBeNull();
    cliMessageId = sent![1]!;

    await waitUntil(() => onBob.length >= 1, "bob's copy of the CLI's message", CLI_TIMEOUT_MS);
    expect(onBob).toHaveLength(1);
    expect(onBob[0]).toMatchObject({
      text: 'hello from the cli',
      from: { accountId: aliceAccount, deviceId: 1 },
      clientMessageId: cliMessageId,
    });
    expect(onBob[0]!.sentTo).toBeUndefined();

    // Reconnecting drains bob's queue again: nothing is handed to the application a second time.
    await bob.close();
    bob = await TandemClient.open(options(stack, { store: bobStore }));
    const replayed = collect<InboundMessage>((fn) => bob.on('message', fn));
    const drained = bob.once('queue-empty');
    await bob.connect();
    await drained;
    expect(replayed).toEqual([]);
    expect(onBob).toHaveLength(1);
  }, 60_000);

  it('prints, in `tandem listen`, messages the SDK device sent while the CLI was offline and while it listened, and the delivered receipt; stops cleanly on SIGINT', async () => {
    expect(cliMessageId).toBeDefined();
    // Bob by his handle (the CLI looked it up to send to him) and his primary as `phone`.
    const line = (text: string) =>
      new RegExp(`^\\[[^\\]]+\\] ${escapeRegExp(bob.handle)} \\(phone\\): ${escapeRegExp(text)}$`, 'm');

    // Queued while no CLI process is connected.
    await bob.send(aliceAccount, { text: 'hello from the sdk' });

    const listen = cli(['listen', ...common()]);
    await listen.waitFor('stdout', line('hello from the sdk'), 'the queued message');
    await listen.waitFor('stdout', /^-- up to date --$/m, 'the end of the backlog');
    // Sent while the CLI listens: pushed to it live.
    await bob.send(aliceAccount, { text: 'and one more, live' });
    await listen.waitFor('stdout', line('and one more, live'), 'the live message');
    // Bob's device acknowledged the CLI's message: the sender hears it was delivered.
    await listen.waitFor(
      'stdout',
      new RegExp(
        `^ {2}delivered to ${escapeRegExp(bob.handle)} \\(phone\\), message ${escapeRegExp(cliMessageId)}$`,
        'm',
      ),
      'the delivered receipt',
    );

    listen.child.kill('SIGINT');
    const { code, signal } = await withTimeout(listen.exited, 'tandem listen to exit after SIGINT');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expectOpenSslRatchet(listen);
    // Each message printed once, and nothing failed to decrypt.
    const printed = (text: string) =>
      listen
        .stdout()
        .split('\n')
        .filter((l) => l.endsWith(`: ${text}`));
    expect(printed('hello from the sdk')).toHaveLength(1);
    expect(printed('and one more, live')).toHaveLength(1);
    expect(listen.stderr()).not.toMatch(/warning|tandem:/);
  }, 60_000);
});
