import { installShutdown, runMain } from '@tandem/service-kit';
import { loadGatewayConfig, startGateway } from './app.js';

runMain('gateway', async () => {
  const config = loadGatewayConfig();
  const app = await startGateway(config);
  installShutdown(app.logger, [{ name: 'gateway', run: () => app.stop() }], {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
