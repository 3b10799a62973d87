import { installShutdown, runMain } from '@tandem/service-kit';
import { loadRegistryConfig, startRegistry } from './app.js';

runMain('device-registry', async () => {
  const config = loadRegistryConfig();
  const app = await startRegistry(config);
  installShutdown(app.logger, [{ name: 'registry', run: () => app.stop() }], {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
