import {
  create,
  DeviceAddressSchema,
  DeviceLinkedEventSchema,
  DeviceListChangedEventSchema,
  DeviceRevokedEventSchema,
  encodeBus,
  InboxMessageSchema,
  InboxRevokedSchema,
  LinkCancelledSchema,
  LinkCancelReason,
  LinkPayloadSchema,
  LinkRelaySchema,
  PrekeyCountsSchema,
  PrekeysLowEventSchema,
  RevokeReason,
  type SubjectCatalog,
} from '@tandem/proto';
import type { Logger, NatsConnection } from '@tandem/service-kit';
import type { LinkCancelReason as DomainCancelReason, RegistryEvents } from '../domain/events.js';
import type { DeviceAddress, RevokeReason as DomainRevokeReason, PrekeyCounts } from '../domain/types.js';
import type { RegistryMetrics } from '../metrics.js';

const REVOKE_REASONS: Record<DomainRevokeReason, RevokeReason> = {
  UNLINKED_BY_PRIMARY: RevokeReason.UNLINKED_BY_PRIMARY,
  UNLINKED_BY_SELF: RevokeReason.UNLINKED_BY_SELF,
  PRIMARY_INACTIVE: RevokeReason.PRIMARY_INACTIVE,
};

const CANCEL_REASONS: Record<DomainCancelReason, LinkCancelReason> = {
  EXPIRED: LinkCancelReason.EXPIRED,
  CANCELLED_BY_COMPANION: LinkCancelReason.CANCELLED_BY_COMPANION,
  CANCELLED_BY_PRIMARY: LinkCancelReason.CANCELLED_BY_PRIMARY,
  DEVICE_LIMIT: LinkCancelReason.DEVICE_LIMIT,
};

const addr = (a: DeviceAddress) =>
  create(DeviceAddressSchema, { accountId: a.accountId, deviceId: a.deviceId });

/** RegistryEvents on NATS, proto-encoded on the catalog's subjects. */
export class NatsRegistryEvents implements RegistryEvents {
  constructor(
    private readonly nc: NatsConnection,
    private readonly catalog: SubjectCatalog,
    private readonly logger: Logger,
    private readonly metrics: RegistryMetrics,
  ) {}

  private publish(event: string, subject: string, payload: () => Uint8Array): void {
    try {
      this.nc.publish(subject, payload());
      this.metrics.events.inc({ event });
    } catch (err) {
      this.logger.error({ err, event }, 'event publish failed');
    }
  }

  deviceLinked(device: DeviceAddress): void {
    const s = this.catalog.events.deviceLinked;
    this.publish('device_linked', s.subject, () =>
      encodeBus(s, create(DeviceLinkedEventSchema, { device: addr(device) })),
    );
  }

  deviceRevoked(device: DeviceAddress, reason: DomainRevokeReason): void {
    const s = this.catalog.events.deviceRevoked;
    const wire = REVOKE_REASONS[reason];
    this.publish('device_revoked', s.subject, () =>
      encodeBus(s, create(DeviceRevokedEventSchema, { device: addr(device), reason: wire })),
    );
    const inbox = this.catalog.inbox(device.accountId, device.deviceId);
    this.publish('inbox_revoked', inbox.subject, () =>
      encodeBus(
        inbox,
        create(InboxMessageSchema, {
          kind: { case: 'revoked', value: create(InboxRevokedSchema, { reason: wire }) },
        }),
      ),
    );
  }

  prekeysLow(device: DeviceAddress, counts: PrekeyCounts): void {
    const s = this.catalog.events.prekeysLow;
    this.publish('prekeys_low', s.subject, () =>
      encodeBus(
        s,
        create(PrekeysLowEventSchema, {
          device: addr(device),
          counts: create(PrekeyCountsSchema, { oneTime: counts.oneTime, pqOneTime: counts.pqOneTime }),
        }),
      ),
    );
  }

  deviceListChanged(accountId: string): void {
    const s = this.catalog.events.deviceListChanged;
    this.publish('device_list_changed', s.subject, () =>
      encodeBus(s, create(DeviceListChangedEventSchema, { accountId })),
    );
  }

  linkPayload(linkId: string, p: { accountId: string; deviceId: number; sealedPayload: Uint8Array }): void {
    const s = this.catalog.link(linkId);
    this.publish('link_payload', s.subject, () =>
      encodeBus(
        s,
        create(LinkRelaySchema, {
          kind: {
            case: 'payload',
            value: create(LinkPayloadSchema, {
              linkId,
              accountId: p.accountId,
              deviceId: p.deviceId,
              sealedPayload: p.sealedPayload,
            }),
          },
        }),
      ),
    );
  }

  linkCancelled(linkId: string, reason: DomainCancelReason): void {
    const s = this.catalog.link(linkId);
    this.publish('link_cancelled', s.subject, () =>
      encodeBus(
        s,
        create(LinkRelaySchema, {
          kind: {
            case: 'cancelled',
            value: create(LinkCancelledSchema, { linkId, reason: CANCEL_REASONS[reason] }),
          },
        }),
      ),
    );
  }
}
