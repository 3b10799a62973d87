// The page's icon is in public/: Vite's dev server serves it, and the build copies it to the
// root of dist/ (which serve.mjs serves; the browser tests fetch it from there).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const appDir = fileURLToPath(new URL('../..', import.meta.url));
const viteBin = fileURLToPath(new URL('../../../../node_modules/vite/bin/vite.js', import.meta.url));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('the favicon', () => {
  let dev: ChildProcess;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}/`;
    // `npx vite` in apps/web, as in development (the README's "For development").
    dev = spawn(process.execPath, [viteBin, '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
      cwd: appDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`vite dev server did not start: ${out}`)), 20_000);
      const onData = (d: Buffer) => {
        out += String(d);
        if (out.includes(base.slice(0, -1))) {
          clearTimeout(timer);
          resolve();
        }
      };
      dev.stdout!.on('data', onData);
      dev.stderr!.on('data', onData);
      dev.on('exit', (code) => reject(new Error(`vite exited (${code}): ${out}`)));
    });
  }, 30_000);
  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      const exited = new Promise((r) => dev.once('exit', r));
      dev.kill('SIGTERM');
      await exited;
    }
  });

  it('is named by the page and served by the dev server, as SVG and as /favicon.ico', async () => {
    const page = await (await fetch(base)).text();
    expect(page).toContain('<link rel="icon" href="/favicon.svg" type="image/svg+xml" />');
    const svg = await fetch(new URL('favicon.svg', base));
    expect(svg.status).toBe(200);
    expect(await svg.text()).toContain('<svg');
    const ico = await fetch(new URL('favicon.ico', base));
    expect(ico.status).toBe(200);
    const bytes = Buffer.from(await ico.arrayBuffer());
    expect(bytes.equals(await readFile(join(appDir, 'public/favicon.ico')))).toBe(true);
    // An ICO header (reserved 0, type 1) holding one PNG image.
    expect([bytes.readUInt16LE(0), bytes.readUInt16LE(2), bytes.readUInt16LE(4)]).toEqual([0, 1, 1]);
    expect(bytes.subarray(22, 26).toString('latin1')).toBe('\x89PNG');
  });

  it('is in public/, which the build copies to the root of dist/', () => {
    for (const f of ['favicon.svg', 'favicon.ico']) expect(existsSync(join(appDir, 'public', f))).toBe(true);
  });
});
