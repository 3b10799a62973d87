import { createHash } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@tandem/testkit';
import { applyMigrations, readMigrations } from '../../src/db/migrate.js';

/** This test file's own database, cloned from a template migrated with the registry's migrations. */
export async function createRegistryDatabase(): Promise<TestDatabase> {
  const migrations = await readMigrations();
  const schemaKey = `device-registry:${createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex')}`;
  return createTestDatabase({
    schemaKey,
    migrate: async (url) => {
      await applyMigrations(url);
    },
  });
}
