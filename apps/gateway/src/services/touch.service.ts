import { MAX_TOUCH_BATCH } from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { RegistryClient } from '../bus/registry.client.js';
import type { Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';

/**
 * Tells the registry which devices are online (registry.touch), batched: every interval, the
 * devices authenticated on this instance, in batches of MAX_TOUCH_BATCH. The registry uses
 * last-seen times for companion inactivity (a companion whose primary has not been seen for
 * COMPANION_INACTIVITY_DAYS is unlinked).
 */
export class TouchService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly registry: RegistryClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.running ??= this.flush().finally(() => {
        this.running = undefined;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round; resolves when every batch was answered (failures are logged, not thrown). */
  async flush(): Promise<void> {
    const devices = this.connections
      .connections()
      .flatMap((c) => (c.device ? [{ accountId: c.device.accountId, deviceId: c.device.deviceId }] : []));
    const now = this.clock.now();
    for (let i = 0; i < devices.length; i += MAX_TOUCH_BATCH) {
      try {
        await this.registry.touch(devices.slice(i, i + MAX_TOUCH_BATCH), now);
      } catch (err) {
        this.logger.warn({ err, devices: Math.min(MAX_TOUCH_BATCH, devices.length - i) }, 'touch failed');
      }
    }
  }
}
