/**
 * Runs one gateway in its own process for the fuzz test, with process-level 'unhandledRejection'
 * and 'uncaughtException' listeners that record (jest intercepts both inside its sandbox, so they
 * can only be observed honestly in a separate process). Configured by environment variables (the
 * gateway's own, see src/config.ts). Talks to the test over IPC:
 *   child -> parent: { type: 'ready', url, opsPort }
 *   parent -> child: { type: 'report' }  => child -> parent: { type: 'report', unhandled, uncaught, rssBytes }
 *   parent -> child: { type: 'stop' }    => graceful stop, then exit 0
 */
import { createLogger } from '@tandem/service-kit';
import { loadGatewayConfig, startGateway } from '../../src/app.js';

const unhandled: string[] = [];
const uncaught: string[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(String(reason instanceof Error ? reason.stack : reason));
});
process.on('uncaughtException', (err) => {
  uncaught.push(String(err.stack ?? err));
});

const send = (msg: unknown) => process.send?.(msg);

const app = await startGateway(loadGatewayConfig(), {
  logger: createLogger({ service: 'gateway', level: process.env.LOG_LEVEL ?? 'silent' }),
});
send({ type: 'ready', url: app.url, opsPort: app.ops.port });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'report') {
    send({
      type: 'report',
      unhandled: unhandled.length,
      uncaught: uncaught.length,
      samples: [...unhandled, ...uncaught].slice(0, 3),
      rssBytes: process.memoryUsage().rss,
    });
  } else if (msg.type === 'stop') {
    void app.stop().finally(() => process.exit(0));
  }
});
