// Issue 19 (the README's "Try it" as a person runs it): the CLI started in a directory of its own
// with the walkthrough's `--store alice-phone.json` style, against the real stack.
// - Stores go to .tandem/ in the current directory (git-ignored), nothing else is written there.
// - Every line names handles and device names (`bob (phone)`), never account ids.
// - `devices` shows names and the CLI platform; `scan` refuses a bad payload in words and sends
//   the phone's recent messages to the new companion as its history.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TandemClient } from '../../src/index.js';
import { CLI_TIMEOUT_MS, escapeRegExp, withTimeout } from './cli-harness.js';
import { handle, registerPhone, type Stack, startStack } from './stack.js';

const REPO = fileURLToPath(new URL('../../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
// Resolved here: the CLI runs in a directory without node_modules.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Run {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  waitFor(pattern: RegExp, what: string): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const running = new Set<Run>();
const transcript: string[] = [];

/** `tandem <args>` started in `cwd`, as `npm run tandem -- <args>` would run it there. */
function tandemIn(cwd: string, args: string[]): Run {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.TANDEM_URL;
  delete env.TANDEM_STORE;
  const child = spawn(process.execPath, ['--conditions=@tandem/source', '--import', TSX, CLI, ...args], {
    cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  for (const s of ['stdout', 'stderr'] as const) {
    child[s].setEncoding('utf8');
    child[s].on('data', (c: string) => {
      text[s] += c;
      for (const w of [...waiters]) w();
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      transcript.push(text.stdout, text.stderr);
      for (const w of [...waiters]) w();
      resolve(code);
    }),
  );
  let closed = false;
  void exited.then(() => {
    closed = true;
    running.delete(r);
  });
  const r: Run = {
    child,
    out: () => text.stdout,
    err: () => text.stderr,
    exited,
    waitFor: (pattern, what) =>
      withTimeout(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = () => {
            const m = text.stdout.match(pattern);
            if (m) {
              waiters.delete(check);
              resolve(m);
            } else if (closed) {
              waiters.delete(check);
              reject(new Error(`tandem ${args[0]} exited before ${what}\n${text.stdout}\n${text.stderr}`));
            }
          };
          waiters.add(check);
          check();
        }),
        () => `${what} (tandem ${args.join(' ')})\nstdout:\n${text.stdout}\nstderr:\n${text.stderr}`,
      ),
  };
  running.add(r);
  return r;
}

describe('the README walkthrough with the tandem CLI', () => {
  let stack: Stack;
  let work: string;
  let observer: TandemClient;
  const alice = handle('alice');
  const bob = handle('bob');
  const server = () => ['--server', stack.url()];

  /** Runs a command that ends by itself; its stdout after exit code 0. */
  async function tandem(args: string[], stdin = ''): Promise<string> {
    const r = tandemIn(work, [...args, ...server()]);
    r.child.stdin.end(stdin);
    const code = await withTimeout(r.exited, `tandem ${args[0]} to exit`);
    if (code !== 0) throw new Error(`tandem ${args.join(' ')} exited ${code}\n${r.out()}\n${r.err()}`);
    return r.out();
  }

  async function register(who: string, store: string): Promise<string> {
    const r = tandemIn(work, ['register', who, '--store', store, ...server()]);
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (r.err().includes('verification code') ? resolve() : undefined);
        r.child.stderr.on('data', check);
        check();
      }),
      'the verification code prompt',
    );
    r.child.stdin.end(`${stack.codes.sent.get(who)}\n`);
    expect(await withTimeout(r.exited, 'tandem register to exit')).toBe(0);
    return r.out();
  }

  const files = async () => (await readdir(work)).sort();

  beforeAll(async () => {
    stack = await startStack();
    work = await mkdtemp(join(tmpdir(), 'tandem-walkthrough-'));
    observer = await registerPhone(stack, 'observer');
  });

  afterAll(async () => {
    for (const r of [...running]) {
      r.child.kill('SIGKILL');
      await r.exited;
    }
    await observer?.close();
    await stack?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps `--store alice-phone.json` in .tandem/, which git ignores; nothing else lands in the current directory', async () => {
    expect(await register(alice, 'alice-phone.json')).toMatch(
      new RegExp(
        `^registered ${escapeRegExp(alice)}: this device \\(phone\\) is its primary, the phone$`,
        'm',
      ),
    );
    await register(bob, 'bob.json');
    expect(await files()).toEqual(['.tandem']);
    expect((await readdir(join(work, '.tandem'))).sort()).toEqual(['alice-phone.json', 'bob.json']);
    expect((await stat(join(work, '.tandem'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(work, '.tandem', 'alice-phone.json'))).mode & 0o777).toBe(0o600);
    // In this repository (where `npm run tandem` runs), .tandem/ anywhere is ignored by git and Biome.
    for (const path of ['.tandem/alice-phone.json', 'packages/sdk/.tandem/bob.json']) {
      expect(spawnSync('git', ['check-ignore', '-q', path], { cwd: REPO }).status).toBe(0);
    }
    // A store left in the current directory by an older CLI is pointed at, not silently replaced.
    await writeFile(join(work, 'old-phone.json'), '{"version":1,"entries":{}}');
    const old = tandemIn(work, ['devices', '--store', 'old-phone.json', ...server()]);
    old.child.stdin.end();
    expect(await withTimeout(old.exited, 'tandem devices to exit')).toBe(1);
    expect(old.err()).toContain('stores now live in .tandem/');
    await rm(join(work, 'old-phone.json'));
    expect(await files()).toEqual(['.tandem']);
  }, 90_000);

  let laptop: Run;
  let payload: string;

  it('prints handles and device names, not account ids; `scan` refuses a bad payload in words, links the laptop and sends it the phone’s recent messages', async () => {
    const sent = await tandem(['send', alice, 'are we still on for Saturday?', '--store', 'bob.json']);
    expect(sent).toMatch(new RegExp(`^sent to ${escapeRegExp(alice)}: 1 device \\(message \\S+\\)$`, 'm'));

    // The phone hears from bob: his handle is shown (claimed in the message, confirmed by a lookup).
    const phone = tandemIn(work, ['listen', '--store', 'alice-phone.json', ...server()]);
    await phone.waitFor(
      new RegExp(`^\\[[^\\]]+\\] ${escapeRegExp(bob)} \\(phone\\): are we still on for Saturday\\?$`, 'm'),
      "bob's message, with his handle",
    );
    await phone.waitFor(/^-- up to date --$/m, 'the end of the backlog');
    phone.child.kill('SIGINT');
    expect(await withTimeout(phone.exited, 'listen to stop')).toBe(0);
    await tandem(['send', bob, 'Yes! 10am at the usual wall.', '--store', 'alice-phone.json']);

    laptop = tandemIn(work, ['link', '--store', 'alice-laptop.json', '--name', 'laptop', ...server()]);
    [, payload] = (await laptop.waitFor(/scan '(tandem1:[^']+)'/, 'the QR payload')) as [string, string];

    // A payload pasted wrong is not a base64 error.
    for (const bad of ['tandem1:…', `${payload}x`, 'hello']) {
      const r = tandemIn(work, ['scan', bad, '--store', 'alice-phone.json', ...server()]);
      r.child.stdin.end();
      expect(await withTimeout(r.exited, 'a bad scan to exit')).toBe(1);
      expect(r.err()).toMatch(/^tandem: this is not a Tandem link code/m);
      expect(r.err()).not.toMatch(/base64|BAD_FORMAT|UNSUPPORTED_VERSION/);
    }

    const scanned = await tandem(['scan', payload, '--store', 'alice-phone.json']);
    expect(scanned).toMatch(
      new RegExp(
        `^linked: ${escapeRegExp(alice)} \\(laptop\\) is a companion of ${escapeRegExp(alice)} \\(CLI\\)$`,
        'm',
      ),
    );
    expect(scanned).toMatch(
      new RegExp(`^sent 2 recent messages to ${escapeRegExp(alice)} \\(laptop\\) as its history$`, 'm'),
    );
    await laptop.waitFor(
      new RegExp(`^linked: this device \\(laptop\\) is a companion of ${escapeRegExp(alice)}$`, 'm'),
      'the linked line',
    );
    await laptop.waitFor(/^history from the primary: 2 messages$/m, 'the history notice');

    // The laptop never looked bob up: the history told it his handle.
    await tandem(['send', alice, 'Running 10 minutes late, sorry', '--store', 'bob.json']);
    await laptop.waitFor(
      new RegExp(`^\\[[^\\]]+\\] ${escapeRegExp(bob)} \\(phone\\): Running 10 minutes late, sorry$`, 'm'),
      "bob's live message on the laptop",
    );
    laptop.child.kill('SIGINT');
    expect(await withTimeout(laptop.exited, 'the laptop to stop')).toBe(0);

    await tandem(['send', bob, 'No worries, from the laptop', '--store', 'alice-laptop.json']);
    const bobListen = tandemIn(work, ['listen', '--store', 'bob.json', ...server()]);
    await bobListen.waitFor(
      new RegExp(`^\\[[^\\]]+\\] ${escapeRegExp(alice)} \\(laptop\\): No worries, from the laptop$`, 'm'),
      "the laptop's message, named",
    );
    await bobListen.waitFor(
      new RegExp(`^ {2}delivered to ${escapeRegExp(alice)} \\(phone\\), message \\S+$`, 'm'),
      "the delivered receipt of bob's first message, named",
    );
    await bobListen.waitFor(/^-- up to date --$/m, "the end of bob's backlog");
    bobListen.child.kill('SIGINT');
    await withTimeout(bobListen.exited, 'bob to stop');

    // The phone comes back: the laptop's message is a sync copy, named by device and recipient.
    const back = tandemIn(work, ['listen', '--store', 'alice-phone.json', ...server()]);
    await back.waitFor(
      new RegExp(`^\\[[^\\]]+\\] you \\(laptop\\) → ${escapeRegExp(bob)}: No worries, from the laptop$`, 'm'),
      'the sync copy',
    );
    await back.waitFor(/^-- up to date --$/m, "the end of the phone's backlog");
    back.child.kill('SIGINT');
    await withTimeout(back.exited, 'the phone to stop');
  }, 120_000);

  it('lists devices with their names and the CLI platform', async () => {
    const own = await tandem(['devices', '--store', 'alice-phone.json']);
    expect(own).toMatch(/^ 1 +primary +phone +CLI +\(this device\)$/m);
    expect(own).toMatch(/^ 2 +companion +laptop +CLI$/m);
    const fromLaptop = await tandem(['devices', '--store', 'alice-laptop.json']);
    expect(fromLaptop).toMatch(/^ 2 +companion +laptop +CLI +\(this device\)$/m);
    // Another account's names and platforms are not served; the CLI says so instead of UNSPECIFIED.
    const theirs = await tandem(['devices', bob, '--store', 'alice-phone.json']);
    expect(theirs).toMatch(new RegExp(`^devices of ${escapeRegExp(bob)}:$`, 'm'));
    expect(theirs).toMatch(/^ 1 +primary +phone +\(not shown to other accounts\)$/m);
    expect(theirs).not.toContain('UNSPECIFIED');
  }, 60_000);

  it(
    'never printed an account id, and left nothing but .tandem/ in the current directory',
    async () => {
      const ids = [await observer.lookup(alice), await observer.lookup(bob)];
      const all = transcript.join('\n');
      expect(all).toContain(alice);
      for (const id of ids) expect(all).not.toContain(id.slice(0, 8));
      // A message line names its sender's device (a receipt may come before its device's name did).
      expect(all).not.toMatch(/\(device \d+\):/);
      expect(await files()).toEqual(['.tandem']);
    },
    CLI_TIMEOUT_MS,
  );
});
