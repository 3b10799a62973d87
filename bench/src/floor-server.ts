/**
 * The raw floor: a minimal relay with no services, no NATS and no auth beyond a hello. A plain
 * `ws` server that stores every copy with delivery's own enqueue script (store_copy.lua, one
 * pipeline per send), pushes it to the recipient's socket if connected here, deletes it with
 * delivery's ack script (ack.lua) on ack, and drains a device's queue (read_page.lua) on hello.
 *
 * Run as its own process: FLOOR_PORT, REDIS_URL, REDIS_KEY_PREFIX. Prints `ready <port>`.
 */
import { Redis } from 'ioredis';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeAck, decodeHello, decodeSend, encodeDeliver, encodeSent, F } from './floor-protocol.js';
import { type Address, openQueues } from './queue.js';

const port = Number(process.env.FLOOR_PORT ?? 0);
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queues = await openQueues(redis, process.env.REDIS_KEY_PREFIX ?? 'floor:');
const ACKED = Buffer.from([F.ACKED]);
const READY = Buffer.from([F.READY]);
const QUEUE_EMPTY = Buffer.from([F.QUEUE_EMPTY]);
const LEASE_MS = 30_000;
const LOW_WATER = 256 * 1024;

interface Session {
  ws: WebSocket;
  address: Address;
  /** While draining, live copies wait here (with their seq) and go out afterwards. */
  held: { seq: number; frame: Buffer }[] | undefined;
  lastDrainedSeq: number;
}

const online = new Map<string, Session>();
const keyOf = (a: string, d: number) => `${a}:${d}`;

const waitLow = (ws: WebSocket) =>
  new Promise<void>((resolve) => {
    const check = () => {
      if (ws.bufferedAmount < LOW_WATER || ws.readyState !== ws.OPEN) resolve();
      else setTimeout(check, 2);
    };
    check();
  });

async function drain(s: Session): Promise<void> {
  let after = 0;
  for (;;) {
    await waitLow(s.ws);
    if (s.ws.readyState !== s.ws.OPEN) return;
    const page = await queues.store.readPage(s.address, after, 100, 512 * 1024, Date.now());
    for (const c of page.copies) s.ws.send(encodeDeliver(c.serverId, c.payload));
    if (page.copies.length > 0) after = page.copies[page.copies.length - 1]!.seq;
    if (!page.more || page.copies.length === 0) break;
  }
  s.lastDrainedSeq = after;
  const held = s.held ?? [];
  s.held = undefined;
  for (const h of held) if (h.seq > after) s.ws.send(h.frame);
  s.ws.send(QUEUE_EMPTY);
}

const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  let session: Session | undefined;
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (session && online.get(keyOf(session.address.accountId, session.address.deviceId)) === session) {
      online.delete(keyOf(session.address.accountId, session.address.deviceId));
    }
  });
  ws.on('message', (data: Buffer) => {
    const type = data[0];
    if (type === F.HELLO) {
      const address = decodeHello(data);
      session = { ws, address, held: [], lastDrainedSeq: 0 };
      const k = keyOf(address.accountId, address.deviceId);
      online.get(k)?.ws.terminate();
      online.set(k, session);
      ws.send(READY);
      const s = session;
      drain(s).catch(() => ws.terminate());
      return;
    }
    if (!session) return void ws.terminate();
    const me = session;
    if (type === F.SEND) {
      const { requestId, copies } = decodeSend(data);
      queues
        .enqueue(
          copies.map((c, i) => ({
            sender: me.address,
            recipient: { accountId: c.accountId, deviceId: c.deviceId },
            clientMessageId: `f${requestId}.${i}`,
            payload: c.payload,
          })),
        )
        .then((stored) => {
          ws.send(encodeSent(requestId));
          stored.forEach((st, i) => {
            const c = copies[i]!;
            const target = online.get(keyOf(c.accountId, c.deviceId));
            if (!target) return;
            const frame = encodeDeliver(st.serverId, c.payload);
            if (target.held) target.held.push({ seq: st.seq, frame });
            else target.ws.send(frame);
          });
        })
        .catch(() => ws.terminate());
    } else if (type === F.ACK) {
      const ids = decodeAck(data);
      queues.store
        .ack(me.address, ids, Date.now() + LEASE_MS)
        .then(() => ws.send(ACKED))
        .catch(() => ws.terminate());
    }
  });
});
wss.on('listening', () => {
  const a = wss.address();
  console.log(`ready ${typeof a === 'object' && a ? a.port : port}`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
