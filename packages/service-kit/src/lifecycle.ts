import type { Logger } from 'pino';

export interface ShutdownStep {
  name: string;
  run(): Promise<void> | void;
}

/**
 * Runs the steps in order on SIGTERM or SIGINT (drain first, close connections last), then exits.
 * A second signal, or steps that take longer than `timeoutMs`, force exit with code 1.
 */
export function installShutdown(
  logger: Logger,
  steps: readonly ShutdownStep[],
  options: { timeoutMs: number; exit?: (code: number) => void } = { timeoutMs: 10_000 },
): { shutdown(reason: string): Promise<void> } {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    if (running !== undefined) return running;
    logger.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out');
      exit(1);
    }, options.timeoutMs);
    timer.unref();
    running = (async () => {
      let code = 0;
      for (const step of steps) {
        try {
          await step.run();
        } catch (err) {
          code = 1;
          logger.error({ err, step: step.name }, 'shutdown step failed');
        }
      }
      clearTimeout(timer);
      logger.info('stopped');
      exit(code);
    })();
    return running;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (running !== undefined) {
      logger.warn({ signal }, 'second signal, exiting now');
      exit(1);
      return;
    }
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { shutdown };
}

/**
 * Runs a service's main function: a configuration error prints one line naming the variable and
 * exits 1; any other start-up failure is logged and exits 1.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof Error && err.name === 'ConfigError') {
      process.stderr.write(`${service}: ${err.message}\n`);
    } else {
      process.stderr.write(
        `${service}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
    process.exit(1);
  });
}
