import {
  create,
  DevicesChangedSchema,
  decodeBus,
  PrekeysLowSchema,
  type SubjectCatalog,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { Bus, BusSubscription } from '../bus/bus.js';
import type { RegistryClient } from '../bus/registry.client.js';
import type { ConnectionRegistry } from '../connection/connection-registry.js';
import type { Outbound } from '../connection/outbound.js';

import type { DeviceListCache } from './device-list-cache.js';
import type { DeviceSessionService } from './device-session.service.js';

/**
 * The registry's events, as every gateway instance needs them (plain subscriptions, no queue
 * group): device-list cache invalidation, devices_changed pushes to the account's connected
 * devices, prekeys_low pushes, and closing a revoked device's socket at once (4003).
 */
export class EventsService {
  private subs: BusSubscription[] = [];

  constructor(
    private readonly bus: Bus,
    private readonly subjects: SubjectCatalog,
    private readonly connections: ConnectionRegistry,
    private readonly lists: DeviceListCache,
    private readonly sessions: DeviceSessionService,
    private readonly outbound: Outbound,
    private readonly registry: Pick<RegistryClient, 'getDevice'>,
    private readonly logger: Logger,
  ) {}

  /** Subscribes and flushes, so no event published after start() resolves is missed. */
  async start(): Promise<void> {
    // Events published while NATS was away are lost: forget every cached device list.
    this.bus.onReconnect(() => this.recover());
    const e = this.subjects.events;
    const on = <M>(subject: { subject: string }, decode: (d: Uint8Array) => M, handle: (m: M) => void) =>
      this.bus.subscribe(subject.subject, (data) => {
        let msg: M;
        try {
          msg = decode(data);
        } catch (err) {
          this.logger.warn({ err, subject: subject.subject }, 'malformed event dropped');
          return;
        }
        try {
          handle(msg);
        } catch (err) {
          this.logger.error({ err, subject: subject.subject }, 'event handler failed');
        }
      });
    this.subs = [
      on(
        e.deviceListChanged,
        (d) => decodeBus(e.deviceListChanged, d),
        (m) => this.onDeviceListChanged(m.accountId),
      ),
      on(
        e.deviceLinked,
        (d) => decodeBus(e.deviceLinked, d),
        (m) => m.device && this.lists.invalidate(m.device.accountId),
      ),
      on(
        e.deviceRevoked,
        (d) => decodeBus(e.deviceRevoked, d),
        (m) => {
          if (!m.device) return;
          this.lists.invalidate(m.device.accountId);
          const conn = this.connections.getDevice(m.device.accountId, m.device.deviceId);
          if (conn) this.sessions.revoke(conn, m.reason);
        },
      ),
      on(
        e.prekeysLow,
        (d) => decodeBus(e.prekeysLow, d),
        (m) => {
          if (!m.device) return;
          const conn = this.connections.getDevice(m.device.accountId, m.device.deviceId);
          if (conn)
            this.outbound.push(conn, {
              case: 'prekeysLow',
              value: create(PrekeysLowSchema, { counts: m.counts }),
            });
        },
      ),
    ];
    await this.bus.flush();
  }

  /**
   * After a NATS reconnect, whatever was published meanwhile is lost: drop the device-list cache
   * (missed invalidations), drain every connected device's queue again (missed inbox pushes; the
   * copies are still queued) and close the sockets of devices revoked meanwhile (missed revocations).
   */
  recover(): void {
    this.lists.clear();
    const conns = this.connections.connections().filter((c) => c.device !== undefined);
    this.logger.warn({ devices: conns.length }, 'nats reconnected: cache cleared, queues drained again');
    for (const conn of conns) {
      this.sessions.redrain(conn);
      const device = conn.device!;
      this.registry.getDevice(device).then(
        (d) => {
          if (!d.active) this.sessions.revoke(conn);
        },
        () => undefined /* unknown now or registry away: the next event or reconnect decides */,
      );
    }
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  private onDeviceListChanged(accountId: string): void {
    this.lists.invalidate(accountId);
    const conns = this.connections.forAccount(accountId);
    if (conns.length === 0) return;
    const bytes = this.outbound.encode(0, {
      case: 'devicesChanged',
      value: create(DevicesChangedSchema, { accountId }),
    });
    for (const conn of conns) this.outbound.sendEncoded(conn, 'devicesChanged', bytes);
  }
}
