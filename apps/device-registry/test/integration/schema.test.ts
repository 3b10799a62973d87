import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestDatabase } from '@tandem/testkit';
import pg from 'pg';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { createRegistryDatabase } from '../helpers/db.js';
import {
  expectedColumnType,
  type ParsedSchema,
  parsePrismaSchema,
  type SchemaModel,
} from '../helpers/prisma-schema.js';

const SCHEMA_PATH = new URL('../../prisma/schema.prisma', import.meta.url);

const col = (m: SchemaModel, field: string) => {
  const f = m.fields.find((x) => x.name === field);
  if (!f) throw new Error(`${m.name} has no field ${field}`);
  return f.column;
};

describe('migrations agree with schema.prisma', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let schema: ParsedSchema;
  let prisma: PrismaClient;

  beforeAll(async () => {
    db = await createRegistryDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    schema = parsePrismaSchema(await readFile(SCHEMA_PATH, 'utf8'));
    prisma = createPrisma(db.url, 2);
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await client.end();
    await db.drop();
  });

  it('has exactly one table per model (plus _prisma_migrations)', async () => {
    const { rows } = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    const expected = [...schema.models.map((m) => m.table), '_prisma_migrations'].sort();
    expect(rows.map((r) => r.table_name)).toEqual(expected);
  });

  it('gives every scalar field a column of the right type, nullability and nothing more', async () => {
    for (const model of schema.models) {
      const { rows } = await client.query<{ column_name: string; type: string; nullable: boolean }>(
        `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
         FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attname`,
        [`public."${model.table}"`],
      );
      const expected = model.fields
        .filter((f) => !schema.models.some((m) => m.name === f.type))
        .map((f) => ({
          column_name: f.column,
          type: expectedColumnType(f, schema.enums),
          nullable: f.optional,
        }))
        .sort((a, b) => a.column_name.localeCompare(b.column_name));
      expect({ table: model.table, columns: rows }).toEqual({ table: model.table, columns: expected });
    }
  });

  it('has the enums with their values in order', async () => {
    const { rows } = await client.query<{ name: string; values: string[] }>(
      `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY t.typname`,
    );
    expect(rows).toEqual([...schema.enums].map(([name, values]) => ({ name, values })));
  });

  it('has exactly the primary keys, unique constraints and indexes the schema declares', async () => {
    for (const model of schema.models) {
      const { rows } = await client.query<{ columns: string[]; is_unique: boolean; is_primary: boolean }>(
        `SELECT array_agg(a.attname ORDER BY k.ord)::text[] AS columns, i.indisunique AS is_unique, i.indisprimary AS is_primary
         FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = $1::regclass
         GROUP BY i.indexrelid, i.indisunique, i.indisprimary`,
        [`public."${model.table}"`],
      );
      const key = (r: { columns: string[]; is_unique: boolean; is_primary: boolean }) =>
        `${r.is_primary ? 'pk' : r.is_unique ? 'unique' : 'index'}(${r.columns.join(',')})`;
      const expected = [
        ...(model.id ? [`pk(${model.id.map((f) => col(model, f)).join(',')})`] : []),
        ...model.uniques.map((u) => `unique(${u.map((f) => col(model, f)).join(',')})`),
        ...model.indexes.map((u) => `index(${u.map((f) => col(model, f)).join(',')})`),
      ].sort();
      expect({ table: model.table, indexes: rows.map(key).sort() }).toEqual({
        table: model.table,
        indexes: expected,
      });
    }
  });

  it('has exactly the foreign keys of the schema relations, cascading on delete', async () => {
    const { rows } = await client.query<{
      tbl: string;
      cols: string[];
      ref: string;
      refcols: string[];
      del: string;
    }>(
      `SELECT c.conrelid::regclass::text AS tbl, c.confrelid::regclass::text AS ref, c.confdeltype AS del,
         (SELECT array_agg(a.attname ORDER BY k.ord)::text[] FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS cols,
         (SELECT array_agg(a.attname ORDER BY k.ord)::text[] FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
           JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS refcols
       FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`,
    );
    const actual = rows.map((r) => `${r.tbl}(${r.cols}) -> ${r.ref}(${r.refcols}) ${r.del}`).sort();
    const expected = schema.models
      .flatMap((m) =>
        m.fields
          .filter((f) => f.relation)
          .map((f) => {
            const target = schema.models.find((t) => t.name === f.relation!.model)!;
            const cols = f.relation!.fields.map((x) => col(m, x));
            const refs = f.relation!.references.map((x) => col(target, x));
            return `${m.table}(${cols}) -> ${target.table}(${refs}) c`;
          }),
      )
      .sort();
    expect(actual).toEqual(expected);
  });

  it("matches the generated client's runtime data model (tables and columns)", () => {
    const runtime = (
      prisma as unknown as {
        _runtimeDataModel: {
          models: Record<
            string,
            { dbName: string | null; fields: { name: string; kind: string; dbName?: string }[] }
          >;
        };
      }
    )._runtimeDataModel;
    for (const model of schema.models) {
      const rm = runtime.models[model.name];
      expect(rm?.dbName ?? model.name).toBe(model.table);
      const runtimeColumns = rm!.fields
        .filter((f) => f.kind !== 'object')
        .map((f) => f.dbName ?? f.name)
        .sort();
      const schemaColumns = model.fields
        .filter((f) => !schema.models.some((m) => m.name === f.type))
        .map((f) => f.column)
        .sort();
      expect(runtimeColumns).toEqual(schemaColumns);
    }
    expect(Object.keys(runtime.models).sort()).toEqual(schema.models.map((m) => m.name).sort());
  });

  it('reads and writes every model through Prisma Client', async () => {
    const key = (n: number, len = 32) => new Uint8Array(len).fill(n);
    const accountId = '00000000-0000-4000-8000-000000000001';
    const now = new Date('2026-01-01T00:00:00.000Z');
    await prisma.account.create({ data: { id: accountId, handle: 'schema_test' } });
    await prisma.verificationCode.create({
      data: {
        id: '00000000-0000-4000-8000-000000000002',
        handle: 'schema_test',
        salt: key(1, 16),
        codeHash: key(2),
        expiresAt: now,
      },
    });
    await prisma.device.create({
      data: {
        accountId,
        deviceId: 1,
        isPrimary: true,
        identityKey: key(3),
        registrationId: 7,
        name: 'phone',
        platform: 'ANDROID',
        linkedAt: now,
        identityDetails: key(4, 10),
        accountSignature: key(5, 64),
        deviceSignature: key(6, 64),
        signedPrekey: { create: { keyId: 1, publicKey: key(7), signature: key(8, 64) } },
        oneTimePrekeys: { create: [{ keyId: 1, publicKey: key(9) }] },
        pqPrekeys: {
          create: [{ keyId: 1, lastResort: true, publicKey: key(10, 1184), signature: key(11, 64) }],
        },
      },
    });
    await prisma.linkSession.create({
      data: {
        id: '00000000-0000-4000-8000-000000000003',
        identityKey: key(12),
        ephemeralKey: key(13),
        registrationId: 9,
        name: 'web',
        platform: 'WEB',
        status: 'APPROVED',
        expiresAt: now,
        accountId,
        approvedByDeviceId: 1,
        deviceId: 2,
      },
    });
    await prisma.deviceList.create({
      data: { accountId, listBytes: key(14, 100), signature: key(15, 64), version: 3n },
    });
    await prisma.rateLimitBucket.create({ data: { key: 'k', tokens: 1.5, updatedAt: now } });

    const account = await prisma.account.findUniqueOrThrow({
      where: { id: accountId },
      include: {
        deviceList: true,
        devices: { include: { signedPrekey: true, oneTimePrekeys: true, pqPrekeys: true } },
      },
    });
    expect(account.nextDeviceId).toBe(2);
    expect(account.deviceList?.version).toBe(3n);
    const [device] = account.devices;
    expect(device?.identityKey).toEqual(key(3));
    expect(device?.prekeysLowNotified).toBe(false);
    expect(device?.signedPrekey?.signature).toEqual(key(8, 64));
    expect(device?.oneTimePrekeys.map((k) => k.keyId)).toEqual([1]);
    expect(device?.pqPrekeys[0]?.publicKey).toEqual(key(10, 1184));
    expect((await prisma.verificationCode.findFirstOrThrow()).attempts).toBe(0);
    expect((await prisma.linkSession.findFirstOrThrow()).status).toBe('APPROVED');
    expect((await prisma.rateLimitBucket.findFirstOrThrow()).tokens).toBe(1.5);

    // Deleting the account cascades to everything hanging off it.
    await prisma.account.delete({ where: { id: accountId } });
    expect(await prisma.device.count()).toBe(0);
    expect(await prisma.oneTimePrekey.count()).toBe(0);
    expect(await prisma.pqPrekey.count()).toBe(0);
    expect(await prisma.signedPrekey.count()).toBe(0);
    expect(await prisma.deviceList.count()).toBe(0);
  });
});
