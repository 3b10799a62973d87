import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEmptyDatabase, type TestDatabase } from '@tandem/testkit';
import pg from 'pg';
import { applyMigrations, MIGRATIONS_DIR, MigrationError, readMigrations } from '../../src/db/migrate.js';

describe('migration runner', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createEmptyDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('applies every migration once and records it as prisma migrate deploy would', async () => {
    const all = await readMigrations();
    expect(await applyMigrations(db.url)).toEqual(all.map((m) => m.name));
    expect(await applyMigrations(db.url)).toEqual([]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
    );
    await client.end();
    expect(rows.map((r) => [r.migration_name, r.checksum, r.applied_steps_count])).toEqual(
      all.map((m) => [m.name, m.checksum, 1]),
    );
    expect(rows.every((r) => r.finished_at instanceof Date)).toBe(true);
  });

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-mig-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const [first] = await readMigrations(dir);
    await writeFile(join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited\n`);
    await expect(applyMigrations(db.url, dir)).rejects.toThrow(MigrationError);
    await expect(applyMigrations(db.url, dir)).rejects.toThrow(/checksum differs/);
  });

  it('rolls back a failing migration completely and records nothing', async () => {
    const fresh = await createEmptyDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'tandem-mig-'));
    await mkdir(join(dir, '20990101000000_bad'));
    await writeFile(
      join(dir, '20990101000000_bad', 'migration.sql'),
      'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n',
    );
    await expect(applyMigrations(fresh.url, dir)).rejects.toThrow(/20990101000000_bad/);
    const client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    const tables = await client.query(
      "SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'",
    );
    const recorded = await client.query('SELECT 1 FROM _prisma_migrations');
    await client.end();
    await fresh.drop();
    expect(tables.rowCount).toBe(0);
    expect(recorded.rowCount).toBe(0);
  });
});
