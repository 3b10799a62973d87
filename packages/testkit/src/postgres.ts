import { createHash } from 'node:crypto';
import pg from 'pg';
import { testEnv, uniqueToken } from './env.js';

export interface TestDatabase {
  /** Connection URL of this test file's own database. */
  url: string;
  name: string;
  /** Drops the database (terminating any connection left open). */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * Identifies the schema version: a template is built once per distinct value (for example a
   * hash of the migration files), then every test database is a cheap copy of it.
   */
  schemaKey: string;
  /** Applies the schema to an empty database at the given URL. Called once per template. */
  migrate(url: string): Promise<void>;
}

function urlFor(name: string): string {
  const u = new URL(testEnv.databaseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testEnv.databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a database for one test file, cloned from a migrated template
 * (`CREATE DATABASE x TEMPLATE t`). The template is built under an advisory lock, so parallel
 * test files build it once; its name carries a hash of `schemaKey`, so a changed schema gets a
 * fresh template.
 */
export async function createTestDatabase(options: TestDatabaseOptions): Promise<TestDatabase> {
  const hash = createHash('sha256').update(options.schemaKey).digest('hex').slice(0, 16);
  const template = `tandem_tpl_${hash}`;
  const name = `tandem_t_${uniqueToken()}`;
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock(727274)');
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (exists.rowCount === 0) {
        const building = `${template}_building_${uniqueToken()}`;
        await admin.query(`CREATE DATABASE "${building}"`);
        try {
          await options.migrate(urlFor(building));
        } catch (err) {
          await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
          throw err;
        }
        await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
      }
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock(727274)');
    }
  });
  return {
    url: urlFor(name),
    name,
    drop: () =>
      withAdmin(async (admin) => void (await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** Creates an empty database (no template), for tests of the migration runner itself. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const name = `tandem_e_${uniqueToken()}`;
  await withAdmin(async (admin) => void (await admin.query(`CREATE DATABASE "${name}"`)));
  return {
    url: urlFor(name),
    name,
    drop: () =>
      withAdmin(async (admin) => void (await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}
