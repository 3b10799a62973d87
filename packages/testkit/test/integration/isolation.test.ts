import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, createTestNats, createTestRedis, type TestDatabase } from '../../src/index.js';

const migrate = async (url: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('CREATE TABLE marker (id int primary key)');
  await c.end();
};

describe('per-file isolation on the real services', () => {
  const dbs: TestDatabase[] = [];
  beforeAll(async () => {
    const schemaKey = 'testkit-isolation-v1';
    dbs.push(
      await createTestDatabase({ schemaKey, migrate }),
      await createTestDatabase({ schemaKey, migrate }),
    );
  });
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it('gives each caller its own database cloned from the migrated template', async () => {
    const [a, b] = dbs as [TestDatabase, TestDatabase];
    expect(a.name).not.toBe(b.name);
    const ca = new pg.Client({ connectionString: a.url });
    const cb = new pg.Client({ connectionString: b.url });
    await ca.connect();
    await cb.connect();
    await ca.query('INSERT INTO marker VALUES (1)');
    const inB = await cb.query('SELECT count(*)::int AS n FROM marker');
    const inA = await ca.query('SELECT count(*)::int AS n FROM marker');
    await ca.end();
    await cb.end();
    expect(inA.rows[0].n).toBe(1);
    expect(inB.rows[0].n).toBe(0);
  });

  it('drops a test database completely', async () => {
    const db = await createTestDatabase({ schemaKey: 'testkit-isolation-v1', migrate });
    await db.drop();
    const admin = new pg.Client({ connectionString: dbs[0]!.url });
    await admin.connect();
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(r.rowCount).toBe(0);
  });

  it('scopes Redis keys to a prefix and removes them on cleanup', async () => {
    const a = await createTestRedis();
    const b = await createTestRedis();
    await a.client.set(`${a.prefix}k1`, 'x');
    await a.client.set(`${a.prefix}k2`, 'y');
    expect((await a.keys()).sort()).toEqual([`${a.prefix}k1`, `${a.prefix}k2`]);
    expect(await b.keys()).toEqual([]);
    await a.cleanup();
    expect(await b.client.exists(`${a.prefix}k1`, `${a.prefix}k2`)).toBe(0);
    await b.cleanup();
  });

  it('gives each caller a distinct NATS subject prefix on a live connection', async () => {
    const a = await createTestNats();
    const b = await createTestNats();
    expect(a.prefix).not.toBe(b.prefix);
    const sub = a.nc.subscribe(`${a.prefix}.echo`, { max: 1 });
    const got = (async () => {
      for await (const m of sub) return m.string();
      return undefined;
    })();
    b.nc.publish(`${b.prefix}.echo`, 'wrong prefix');
    a.nc.publish(`${a.prefix}.echo`, 'right prefix');
    expect(await got).toBe('right prefix');
    await a.close();
    await b.close();
  });
});
