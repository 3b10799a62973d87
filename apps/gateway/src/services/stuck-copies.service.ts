import { MAX_STALE_COPIES_PER_DEVICE } from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { DeliveryClient } from '../bus/delivery.client.js';
import { type Connection, type DeviceIdentity, deviceKey } from '../connection/connection.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';
import type { GatewayMetrics } from '../metrics.js';
import type { DeviceSessionService } from './device-session.service.js';

export interface StuckCopyPolicy {
  /** A queued copy this old (store clock) that was never forwarded is stuck. */
  stuckAgeMs: number;
  /** One batch of devices is checked per interval (0 = the sweep is off). */
  intervalMs: number;
  /** Devices per delivery.stale_copies request (1..MAX_STALE_CHECK_DEVICES). */
  batchSize: number;
}

/**
 * The safety net behind live pushes: a copy stored in a connected device's queue whose inbox push
 * never reached this gateway (lost while NATS or delivery hiccupped) would otherwise wait, unacked,
 * until the device reconnects. One gateway-wide timer — no timer per socket and nothing on the hot
 * path — checks the next `batchSize` connected devices per interval with one batched
 * delivery.stale_copies request (their oldest copies queued at least `stuckAgeMs` ago, ids only);
 * a listed copy that was never forwarded on the device's socket (not covered by its drain cursor,
 * not in its forwarded-id window) makes the gateway drain that device again, and is counted in
 * gateway_stuck_copies_total (0 in a healthy system). Every connected device is checked once per
 * ceil(devices / batchSize) intervals.
 *
 * (Seqs are not contiguous per device — delivery draws them from the Redis clock — so a gap in the
 * seqs of live copies says nothing about a lost push; the sweep does not rely on one.)
 */
export class StuckCopySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The connections of the current sweep cycle, and the next one to check. */
  private cycle: readonly Connection[] = [];
  private next = 0;

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly delivery: DeliveryClient,
    private readonly sessions: DeviceSessionService,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly policy: StuckCopyPolicy,
  ) {}

  start(): void {
    if (this.policy.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .catch((err) => this.logger.error({ err }, 'stuck-copy sweep failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.policy.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Checks the next batch of connected devices; failures are logged (the next tick goes on). */
  async tick(): Promise<void> {
    const batch = this.nextBatch();
    if (batch.length === 0) return;
    // Addresses taken now: a socket may close (and lose its device) while the request is out.
    const byDevice = new Map<string, Connection>();
    const devices = batch.map((conn) => {
      const d = conn.device as DeviceIdentity;
      byDevice.set(deviceKey(d.accountId, d.deviceId), conn);
      return { accountId: d.accountId, deviceId: d.deviceId };
    });
    let reply: Awaited<ReturnType<DeliveryClient['staleCopies']>>;
    try {
      reply = await this.delivery.staleCopies(devices, this.policy.stuckAgeMs, MAX_STALE_COPIES_PER_DEVICE);
    } catch (err) {
      this.logger.warn({ err, devices: batch.length }, 'stuck-copy check failed');
      return;
    }
    for (const entry of reply.devices) {
      const a = entry.device;
      if (!a) continue;
      const conn = byDevice.get(deviceKey(a.accountId, a.deviceId));
      // Closed, displaced or draining since the request: nothing to decide for it now.
      if (
        !conn ||
        conn.isClosed ||
        conn.draining ||
        this.connections.getDevice(a.accountId, a.deviceId) !== conn
      )
        continue;
      const stuck = entry.copies.filter((c) => !conn.wasForwarded(c.serverId, c.seq));
      if (stuck.length === 0) continue;
      this.metrics.stuckCopies.inc(stuck.length);
      this.logger.warn(
        {
          conn: conn.id,
          accountId: a.accountId,
          deviceId: a.deviceId,
          stuck: stuck.length,
          oldestSeq: String(stuck[0]!.seq),
          serverIds: stuck.map((c) => c.serverId),
        },
        'queued copies were never pushed to the connected device: draining it again',
      );
      this.sessions.redrain(conn);
    }
  }

  /** Up to batchSize authenticated, not draining connections, continuing the current cycle. */
  private nextBatch(): Connection[] {
    if (this.next >= this.cycle.length) {
      this.cycle = this.connections.connections();
      this.next = 0;
    }
    const out: Connection[] = [];
    while (out.length < this.policy.batchSize && this.next < this.cycle.length) {
      const conn = this.cycle[this.next++]!;
      if (!conn.isClosed && conn.device && !conn.draining) out.push(conn);
    }
    return out;
  }
}
