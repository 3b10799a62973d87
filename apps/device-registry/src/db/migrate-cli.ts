// `npm run migrate -w apps/device-registry` and the migrate job in Compose and Kubernetes:
// applies pending migrations to DATABASE_URL and exits.
import { env, loadConfig, runMain } from '@tandem/service-kit';
import { z } from 'zod';
import { applyMigrations } from './migrate.js';

runMain('device-registry-migrate', async () => {
  const { DATABASE_URL } = loadConfig(z.object({ DATABASE_URL: env.url(['postgres', 'postgresql']) }));
  const applied = await applyMigrations(DATABASE_URL);
  process.stdout.write(
    `${JSON.stringify({ service: 'device-registry-migrate', applied, msg: applied.length ? 'migrations applied' : 'schema up to date' })}\n`,
  );
});
