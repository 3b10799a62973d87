import { installShutdown, runMain } from '@tandem/service-kit';
import { loadDeliveryConfig, startDelivery } from './app.js';

runMain('delivery', async () => {
  const config = loadDeliveryConfig();
  const app = await startDelivery(config);
  installShutdown(app.logger, [{ name: 'delivery', run: () => app.stop() }], {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
