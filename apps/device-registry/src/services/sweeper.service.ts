import type { Logger } from '@tandem/service-kit';
import type { Clock } from '../domain/clock.js';
import type { RegistryEvents } from '../domain/events.js';
import type { DevicesRepository } from '../repositories/devices.repository.js';
import type { LinksRepository } from '../repositories/links.repository.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const BATCH = 500;

/**
 * The periodic job: unlinks every companion of a primary not seen for `inactivityDays` (WhatsApp's
 * 14-day rule), revokes companions whose approved link was never completed, and deletes stale
 * sessions, codes and rate-limit buckets. Safe with several instances: the revocation runs under
 * a transaction-scoped advisory lock (pg_try_advisory_xact_lock) and locks its rows with SKIP
 * LOCKED, so concurrent sweeps neither block each other nor revoke a device twice.
 */
export class SweeperService {
  constructor(
    private readonly devices: DevicesRepository,
    private readonly links: LinksRepository,
    private readonly clock: Clock,
    private readonly events: RegistryEvents,
    private readonly settings: { inactivityDays: number },
    private readonly logger: Logger,
  ) {}

  async runOnce(): Promise<{ inactive: number; abandoned: number }> {
    const now = this.clock.now();
    const cutoff = new Date(now.getTime() - this.settings.inactivityDays * DAY_MS);
    let inactive = 0;
    for (;;) {
      const batch = await this.devices.revokeCompanionsOfInactivePrimaries(cutoff, now, BATCH);
      inactive += batch.length;
      for (const d of batch) this.events.deviceRevoked(d, 'PRIMARY_INACTIVE');
      for (const accountId of new Set(batch.map((d) => d.accountId)))
        this.events.deviceListChanged(accountId);
      if (batch.length < BATCH) break;
    }
    const abandoned = await this.links.sweep(now, new Date(now.getTime() - DAY_MS));
    for (const accountId of new Set(abandoned.map((d) => d.accountId)))
      this.events.deviceListChanged(accountId);
    if (inactive > 0 || abandoned.length > 0) {
      this.logger.info({ inactive, abandoned: abandoned.length }, 'sweep revoked companions');
    }
    return { inactive, abandoned: abandoned.length };
  }

  /** Runs every `intervalMs` (unref'd timer); returns a stop function that waits for a running sweep. */
  start(intervalMs: number): () => Promise<void> {
    let running: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      running = this.runOnce().catch((err: unknown) => this.logger.error({ err }, 'sweep failed'));
    }, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await running;
    };
  }
}
