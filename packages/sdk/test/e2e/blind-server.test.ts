import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { decodeJson } from '../../src/codec.js';
import { type InboundMessage, type KeyValueStore, MemoryStore } from '../../src/index.js';
import { collect, linkCompanion, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

/** Every byte string the servers hold: table rows, Redis values of every type, NATS payloads, logs. */
async function everythingTheServersHold(stack: Stack, natsPayloads: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [...natsPayloads, ...stack.logs.map((l) => Buffer.from(l))];
  const db = new pg.Client({ connectionString: stack.db.url });
  await db.connect();
  const tables = await db.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
  );
  for (const { tablename } of tables.rows) {
    const rows = await db.query(`SELECT * FROM "${tablename}"`);
    for (const row of rows.rows as Record<string, unknown>[]) {
      for (const v of Object.values(row)) {
        if (Buffer.isBuffer(v)) out.push(v);
        else if (v !== null && v !== undefined) out.push(Buffer.from(String(v)));
      }
    }
  }
  await db.end();
  const r = stack.redis.client;
  for (const key of await stack.redis.keys()) {
    const type = await r.type(key);
    if (type === 'string') out.push((await r.getBuffer(key))!);
    else if (type === 'hash') out.push(...Object.values(await r.hgetallBuffer(key)));
    else if (type === 'zset') out.push(...(await r.zrangeBuffer(key, 0, -1)));
    else if (type === 'list') out.push(...(await r.lrangeBuffer(key, 0, -1)));
    else if (type === 'set') out.push(...(await r.smembersBuffer(key)));
    else if (type === 'stream') {
      for (const [, fields] of await r.xrangeBuffer(key, '-', '+')) out.push(...fields);
    }
  }
  return out;
}

async function identitySecret(store: KeyValueStore): Promise<Buffer> {
  const state = decodeJson<{ identity: { secretKey: Uint8Array } }>((await store.get('device'))!);
  return Buffer.from(state.identity.secretKey);
}

describe('the server is blind', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('holds no plaintext marker and no private key bytes in Postgres, Redis, NATS payloads or logs', async () => {
    const natsPayloads: Buffer[] = [];
    const sub = stack.nats.nc.subscribe(`${stack.nats.prefix}.>`, {
      callback: (_err, msg) => void natsPayloads.push(Buffer.from(msg.data)),
    });
    const stores = {
      alice: new MemoryStore(),
      web: new MemoryStore(),
      bob: new MemoryStore(),
      bobTab: new MemoryStore(),
    };
    const alice = await registerPhone(stack, 'alice', { store: stores.alice });
    const web = await linkCompanion(stack, alice, 'web', { store: stores.web });
    const bob = await registerPhone(stack, 'bob', { store: stores.bob });
    const bobTablet = await linkCompanion(stack, bob, 'tablet', { store: stores.bobTab });
    await bobTablet.close(); // offline: its copies stay queued in Redis while we scan

    const run = Math.random().toString(36).slice(2);
    const markers = Array.from({ length: 6 }, (_, i) => `PLAINTEXT-MARKER-${run}-${i}`);
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const onAlice = collect<InboundMessage>((fn) => alice.on('message', fn));
    const history = web.once('history');
    await alice.sendHistory(web.deviceId, new TextEncoder().encode(`history ${markers[0]}`));
    await history;
    await alice.send(bob.accountId, { text: markers[1]! });
    await web.send(bob.accountId, { text: markers[2]!, data: new TextEncoder().encode(markers[3]) });
    await bob.send(alice.accountId, { text: markers[4]! });
    await waitUntil(() => onBob.length === 2 && onAlice.length >= 1, 'the conversation');
    expect(onBob.map((m) => m.text)).toEqual([markers[1], markers[2]]);
    await bob.send(alice.accountId, { text: markers[5]! });
    await waitUntil(() => onAlice.length === 3, 'the last message'); // incl. the sync copy of web's send
    sub.unsubscribe();

    const held = await everythingTheServersHold(stack, natsPayloads);
    expect(held.length).toBeGreaterThan(50);
    // Ciphertext for the offline tablet is queued right now: the scan does cover message copies.
    expect((await stack.redis.keys()).length).toBeGreaterThan(0);
    // The scan does see binary columns: the public identity key (stored as bytea) is found.
    expect(held.some((b) => b.includes(Buffer.from(alice.identityKey)))).toBe(true);
    const secrets = await Promise.all(Object.values(stores).map(identitySecret));
    const needles: Array<[string, Buffer]> = [
      ...markers.map((m) => [m, Buffer.from(m)] as [string, Buffer]),
      ...secrets.flatMap(
        (s, i) =>
          [
            [`secret ${i} (raw)`, s],
            [`secret ${i} (hex)`, Buffer.from(s.toString('hex'))],
            [`secret ${i} (base64)`, Buffer.from(s.toString('base64').slice(0, 40))],
          ] as Array<[string, Buffer]>,
      ),
    ];
    const found = needles.filter(([, needle]) => held.some((b) => b.includes(needle))).map(([what]) => what);
    expect(found).toEqual([]);
    await Promise.all([alice.close(), web.close(), bob.close()]);
  });
});
