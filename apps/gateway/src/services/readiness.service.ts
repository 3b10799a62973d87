import type { Logger, ReadinessCheck } from '@tandem/service-kit';
import type { GatewayMetrics } from '../metrics.js';

/** A service the gateway needs to serve devices, probed over the bus. */
export interface ProbeTarget {
  readonly name: string;
  /** Resolves when the service answers within `timeoutMs`; rejects otherwise. */
  probe(timeoutMs: number): Promise<void>;
}

export interface ReadinessPolicy {
  /** Pause between the end of one round of probes and the start of the next. */
  intervalMs: number;
  /** Timeout of one probe. */
  timeoutMs: number;
}

/**
 * Whether the services behind the gateway answer: every target is probed in the background (one
 * round every `intervalMs`, each probe bounded by `timeoutMs`) and /readyz reads the cached
 * result, so a readiness check costs nothing and never waits on the bus. A target is not ready
 * until its first probe answered, and turns not ready on the first failed probe: with the
 * defaults /readyz turns 503 within interval + timeout (1.5 s) of a service going away.
 */
export class ReadinessService {
  private readonly up = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly targets: readonly ProbeTarget[],
    private readonly policy: ReadinessPolicy,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    for (const t of targets) metrics.dependencyUp.set({ dependency: t.name }, 0);
  }

  /** Starts probing; resolves when the first round settled (so a fresh instance reports the truth). */
  start(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    this.stopped = false;
    return this.round();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** The last probe's verdict for `name` (false before its first answer). */
  isUp(name: string): boolean {
    return this.up.get(name) === true;
  }

  /** One readiness check per target, for the ops server (synchronous, from the cache). */
  checks(): ReadinessCheck[] {
    return this.targets.map((t) => ({ name: t.name, check: () => this.isUp(t.name) }));
  }

  /** One round of probes (all targets at once); resolves when every probe settled. */
  async probeAll(): Promise<void> {
    await Promise.all(
      this.targets.map(async (t) => {
        let ok = true;
        let error: unknown;
        try {
          await t.probe(this.policy.timeoutMs);
        } catch (err) {
          ok = false;
          error = err;
        }
        const was = this.up.get(t.name);
        this.up.set(t.name, ok);
        this.metrics.dependencyUp.set({ dependency: t.name }, ok ? 1 : 0);
        if (was === ok) return;
        if (ok) this.logger.info({ dependency: t.name }, 'dependency answers: ready');
        else this.logger.warn({ dependency: t.name, err: error }, 'dependency does not answer: not ready');
      }),
    );
  }

  private round(): Promise<void> {
    const p = this.probeAll().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.round(), this.policy.intervalMs);
      this.timer.unref();
    });
    this.running = p;
    return p;
  }
}
