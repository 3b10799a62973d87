import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  /** Resolves true when the dependency answers; a throw counts as not ready. */
  check(): Promise<boolean> | boolean;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  checks: readonly ReadinessCheck[];
  /** While draining, /readyz answers 503 so balancers stop sending new work. */
  isDraining?: () => boolean;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operations endpoint of every service: `/healthz` (the process is alive), `/readyz` (every
 * dependency answers and the service is not draining) and `/metrics` (Prometheus text format).
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      void readiness(options).then(({ ok, body }) => {
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readiness(options: OpsServerOptions) {
  if (options.isDraining?.()) return { ok: false, body: { status: 'draining' } };
  const results = await Promise.all(
    options.checks.map(async (c) => {
      try {
        return [c.name, (await c.check()) ? 'ok' : 'down'] as const;
      } catch {
        return [c.name, 'down'] as const;
      }
    }),
  );
  const ok = results.every(([, s]) => s === 'ok');
  return { ok, body: { status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(results) } };
}
