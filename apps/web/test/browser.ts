// Helpers of the browser tests: build the page with Vite (into a temporary directory, so test
// files can run in parallel), serve it with serve.mjs, drive Debian's Chromium with
// playwright-core (never a downloaded browser), and record every WebSocket frame the page sends
// or receives.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startServer } from '../serve.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

const appDir = fileURLToPath(new URL('..', import.meta.url));
const viteBin = fileURLToPath(new URL('../../../node_modules/vite/bin/vite.js', import.meta.url));
export const resultsDir = join(appDir, 'test-results');
export const idbHarnessDir = join(appDir, 'test/fixtures/idb');
/** The README's screenshots (`docs/screenshot-<name>`), rewritten only when asked to. */
export const docsDir = join(appDir, 'docs');
const updateDocs = process.env.UPDATE_SCREENSHOTS === '1';

/**
 * Saves a screenshot in test-results/; with `docs`, it is one the README shows, and with
 * UPDATE_SCREENSHOTS=1 it is also written to docs/screenshot-<name>.
 */
export async function screenshot(page: Page, name: string, options: { docs?: boolean } = {}): Promise<void> {
  const shot = await page.screenshot({ path: join(resultsDir, name) });
  if (options.docs && updateDocs) await writeFile(join(docsDir, `screenshot-${name}`), shot);
}

/**
 * Builds the page (or another Vite root, e.g. a test harness) into a fresh temporary directory
 * and returns it.
 */
export async function buildPage(root = appDir): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-web-'));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [viteBin, 'build', root, '--outDir', dir, '--emptyOutDir', '--logLevel', 'warn'],
      {
        cwd: appDir,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`vite build failed (${code}): ${err}`)),
    );
  });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The page built and served on a random port. */
export async function servePage(
  root = appDir,
): Promise<{ url: string; dir: string; close: () => Promise<void> }> {
  const build = await buildPage(root);
  const server = await startServer({ root: build.dir, port: 0 });
  return {
    url: server.url,
    dir: build.dir,
    close: async () => {
      await server.close();
      await build.remove();
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface Traffic {
  /** Every WebSocket frame, sent and received, as bytes. */
  frames: Buffer[];
  sockets: string[];
  /** Every HTTP(S) request URL. */
  requests: string[];
}

/** Records the page's network traffic from now on (across reloads). */
export function recordTraffic(page: Page): Traffic {
  const traffic: Traffic = { frames: [], sockets: [], requests: [] };
  const bytes = (payload: string | Buffer) => (typeof payload === 'string' ? Buffer.from(payload) : payload);
  page.on('websocket', (ws) => {
    traffic.sockets.push(ws.url());
    ws.on('framesent', (f) => void traffic.frames.push(bytes(f.payload)));
    ws.on('framereceived', (f) => void traffic.frames.push(bytes(f.payload)));
  });
  page.on('request', (r) => void traffic.requests.push(r.url()));
  return traffic;
}
