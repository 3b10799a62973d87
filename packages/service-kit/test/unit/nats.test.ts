// closeNats ends a connection whether or not NATS is there. A minimal NATS server (INFO, then
// PONG for every PING) stands in for nats-server, so the test can take it away mid-connection.
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/logger.js';
import { closeNats, connectNats } from '../../src/nats.js';

let server: Server | undefined;
const sockets = new Set<Socket>();

async function fakeNats(): Promise<number> {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(
      `INFO ${JSON.stringify({ server_id: 'fake', version: '2.10.0', max_payload: 1048576, proto: 1, headers: true })}\r\n`,
    );
    socket.on('data', (chunk) => {
      for (const line of chunk.toString().split('\r\n')) if (line === 'PING') socket.write('PONG\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function takeNatsAway(): Promise<void> {
  const s = server!;
  server = undefined;
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => s.close(resolve));
}

afterEach(async () => {
  if (server) await takeNatsAway();
});

const logger = createLogger({ service: 'nats-test', level: 'silent' });

describe('closeNats', () => {
  it('drains and closes a connection to a NATS that answers', async () => {
    const nc = await connectNats({ servers: [`127.0.0.1:${await fakeNats()}`], name: 't', logger });
    await closeNats(nc);
    expect(nc.isClosed()).toBe(true);
  });

  it('closes, without throwing, a connection whose NATS went away (it would otherwise re-dial forever)', async () => {
    const nc = await connectNats({ servers: [`127.0.0.1:${await fakeNats()}`], name: 't', logger });
    const statuses: string[] = [];
    void (async () => {
      for await (const s of nc.status()) statuses.push(s.type);
    })();
    await takeNatsAway();
    while (!statuses.includes('disconnect')) await new Promise((r) => setTimeout(r, 10));
    await closeNats(nc);
    expect(nc.isClosed()).toBe(true);
  });

  it('does nothing to a connection that is already closed', async () => {
    const nc = await connectNats({ servers: [`127.0.0.1:${await fakeNats()}`], name: 't', logger });
    await nc.close();
    await closeNats(nc);
    expect(nc.isClosed()).toBe(true);
  });
});
