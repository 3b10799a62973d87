#!/usr/bin/env node
// Serves the built web companion (apps/web/dist) over HTTP: node:http only, no dependencies.
// Correct content types, immutable caching for hashed assets, a fallback to index.html for any
// other path (single-page app), and no directory traversal out of the root.
//
//   node apps/web/serve.mjs                  # http://127.0.0.1:8090/, serving apps/web/dist
//   PORT=0 HOST=0.0.0.0 WEB_ROOT=… node apps/web/serve.mjs
//
// With GATEWAY_URL (e.g. ws://127.0.0.1:8080/v1/ws) it also relays WebSocket upgrades of /v1/ws
// to that gateway, byte for byte (the bytes are protobuf frames of ciphertext), so the page's
// default (the gateway on its own origin) works without ?server=.
//
// When run directly it prints one line, "Web companion: <url>", and stops on SIGINT/SIGTERM.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export const defaultRoot = fileURLToPath(new URL('./dist/', import.meta.url));

const WS_PATH = '/v1/ws';

/**
 * Starts the static server. Resolves once it listens; `url` is its base URL, `close()` stops it.
 * `gateway`: a ws:// URL to relay WebSocket upgrades of /v1/ws to.
 * @param {{ root?: string, port?: number, host?: string, gateway?: string }} [options]
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function startServer(options = {}) {
  const root = resolve(options.root ?? defaultRoot);
  const host = options.host ?? '127.0.0.1';
  const index = join(root, 'index.html');
  await stat(index).catch(() => {
    throw new Error(`${index} is missing: build the page first (npm run build -w apps/web)`);
  });

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, SECURITY_HEADERS).end();
      return;
    }
    const file = normalize(join(root, pathname));
    const inside = file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);
    void send(inside && !pathname.includes('\0') ? file : index);

    async function send(path) {
      let target = path;
      let info = await stat(target).catch(() => undefined);
      if (!info?.isFile()) {
        // A missing asset is a 404; any other path is a route of the page: serve index.html.
        if (pathname.startsWith('/assets/') || extname(pathname) !== '') {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
          res.end('not found\n');
          return;
        }
        target = index;
        info = await stat(target);
      }
      const hashed = target.startsWith(join(root, 'assets') + sep);
      res.writeHead(200, {
        'content-type': TYPES[extname(target).toLowerCase()] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
        ...SECURITY_HEADERS,
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      createReadStream(target)
        .on('error', () => res.destroy())
        .pipe(res);
    }
  });

  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    const target = options.gateway ? new URL(options.gateway) : undefined;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (target?.protocol !== 'ws:' || path !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(Number(target.port || 80), target.hostname, () => {
      const lines = [`${req.method} ${target.pathname}${target.search} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i];
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      socket.destroy();
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8090, host, () => ok(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise((ok) => {
        server.close(() => ok(undefined));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = await startServer({
    root: process.env.WEB_ROOT,
    port: Number(process.env.PORT ?? 8090),
    host: process.env.HOST ?? '127.0.0.1',
    gateway: process.env.GATEWAY_URL,
  });
  process.stdout.write(`Web companion: ${server.url}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
