import type { QueueRepository } from '../ports.js';
import type { DeliveryService } from './delivery-service.js';

export interface SweeperOptions {
  readonly intervalMs: number;
  /** How long a shard lock lasts if this instance dies mid-sweep. */
  readonly lockTtlMs: number;
  /** This instance's lock token. */
  readonly token: string;
  readonly onError?: (err: unknown, shard: number) => void;
}

/**
 * Periodically sweeps the expiry-index shards. Each shard is taken with a lock (SET NX PX), so
 * several instances split the shards instead of all walking the same one; correctness does not
 * depend on the lock (expire.lua is atomic and receipts are idempotent), only efficiency does.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private offset = 0;

  constructor(
    private readonly service: DeliveryService,
    private readonly queues: QueueRepository,
    private readonly options: SweeperOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweepOnce().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Sweeps every shard this instance can lock, starting at a rotating offset; returns copies expired. */
  async sweepOnce(): Promise<number> {
    const n = this.queues.shardCount;
    const start = this.offset++ % n;
    let total = 0;
    for (let k = 0; k < n && !this.stopped; k++) {
      const shard = (start + k) % n;
      try {
        if (!(await this.queues.lockShard(shard, this.options.token, this.options.lockTtlMs))) continue;
        try {
          total += await this.service.sweepShard(shard);
        } finally {
          await this.queues.unlockShard(shard, this.options.token);
        }
      } catch (err) {
        this.options.onError?.(err, shard);
      }
    }
    return total;
  }
}
