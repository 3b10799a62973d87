// Runs the `tandem` CLI as a user does: a child process started from source (tsx, the
// @tandem/source condition), talking to a stack started by stack.ts. Test-only.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SDK_DIR = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Bound on every wait for the CLI (it starts from source in a second or two). */
export const CLI_TIMEOUT_MS = 30_000;

export interface Cli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the stream's output so far or to come. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<RegExpMatchArray>;
  /** Settles when the process has exited and its output streams have closed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every CLI process still running; kill them in afterAll. */
export const children = new Set<Cli>();

/** `what` may be a function, called at the timeout, so the message shows the output by then. */
export function withTimeout<T>(
  promise: Promise<T>,
  what: string | (() => string),
  ms = CLI_TIMEOUT_MS,
): Promise<T> {
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

/** Starts `tandem <args>`; `nodeArgs` go before the script (e.g. ['--import', probe]). */
export function cli(args: string[], nodeArgs: string[] = []): Cli {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the CLI
  delete env.TANDEM_URL;
  delete env.TANDEM_STORE;
  const child = spawn(
    process.execPath,
    ['--conditions=@tandem/source', '--import', 'tsx', ...nodeArgs, CLI, ...args],
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
export async function run(args: string[]): Promise<string> {
  const c = cli(args);
  c.child.stdin.end();
  const { code, signal } = await withTimeout(c.exited, `tandem ${args[0]} to exit`);
  if (code !== 0) {
    throw new Error(
      `tandem ${args[0]} exited with ${code ?? signal}\nstdout:\n${c.stdout()}\nstderr:\n${c.stderr()}`,
    );
  }
  return c.stdout();
}

/** Kills every CLI process still running and waits for it to exit. */
export async function killAll(): Promise<void> {
  for (const c of [...children]) {
    c.child.kill('SIGKILL');
    await c.exited;
  }
}

export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
