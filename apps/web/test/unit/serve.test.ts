import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startServer } from '../../serve.mjs';

function get(url: string, method = 'GET', rawPath?: string) {
  return new Promise<{ status: number; type: string | undefined; body: string; cache: string | undefined }>(
    (resolve, reject) => {
      const u = new URL(url);
      const req = request(
        { host: u.hostname, port: u.port, path: rawPath ?? u.pathname + u.search, method },
        (res) => {
          let body = '';
          res.on('data', (d) => {
            body += String(d);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              type: res.headers['content-type'],
              body,
              cache: res.headers['cache-control'],
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

describe('serve.mjs', () => {
  let root: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    const base = await mkdtemp(join(tmpdir(), 'tandem-serve-'));
    root = join(base, 'dist');
    await mkdir(join(root, 'assets'), { recursive: true });
    await writeFile(join(root, 'index.html'), '<!doctype html><title>page</title>');
    await writeFile(join(root, 'assets', 'index-abc.js'), 'export {};');
    await writeFile(join(root, 'assets', 'index-abc.css'), 'body{}');
    await writeFile(join(base, 'secret.txt'), 'outside the root');
    server = await startServer({ root, port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await rm(join(root, '..'), { recursive: true, force: true });
  });

  it('serves files with their content types; hashed assets are cached for good, the page is not', async () => {
    const page = await get(server.url);
    expect(page).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', cache: 'no-cache' });
    expect(page.body).toContain('<title>page</title>');
    expect(await get(`${server.url}assets/index-abc.js`)).toMatchObject({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      cache: 'public, max-age=31536000, immutable',
    });
    expect((await get(`${server.url}assets/index-abc.css`)).type).toBe('text/css; charset=utf-8');
  });

  it('answers any other route with the page (single-page app), but a missing file with 404', async () => {
    const route = await get(`${server.url}conversations/bob?server=ws://x/v1/ws`);
    expect(route.status).toBe(200);
    expect(route.body).toContain('<title>page</title>');
    expect((await get(`${server.url}assets/missing.js`)).status).toBe(404);
    expect((await get(`${server.url}favicon.ico`)).status).toBe(404);
  });

  it('never serves a file outside its root, and refuses other methods', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const res = await get(server.url, 'GET', path);
      expect(res.body).not.toContain('outside the root');
    }
    expect((await get(server.url, 'POST')).status).toBe(405);
    expect((await get(server.url, 'HEAD')).status).toBe(200);
  });

  it('refuses WebSocket upgrades when it relays to no gateway', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = request({
        host: u.hostname,
        port: u.port,
        path: '/v1/ws',
        headers: { connection: 'upgrade', upgrade: 'websocket' },
      });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('upgrade', () => resolve(101));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(404);
  });

  it('refuses to start without a built page', async () => {
    await expect(startServer({ root: join(root, 'nope'), port: 0 })).rejects.toThrow(/build the page first/);
  });
});
