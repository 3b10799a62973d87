import type { Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { BusReply } from './bus.js';
import { ProtocolError } from './errors.js';
import * as bus from './gen/tandem/v1/bus_pb.js';
import { ErrorCode } from './gen/tandem/v1/common_pb.js';
import { MAX_UINT32, SUBJECT_PREFIX_PATTERN, UUID_PATTERN } from './limits.js';

export {
  type BusReply,
  type BusRequester,
  decodeBus,
  decodeReply,
  encodeBus,
  encodeReply,
  type ReplyOk,
  replyError,
  replyOk,
  requestBus,
} from './bus.js';

/** NATS queue groups: every registry instance subscribes request subjects with 'registry', etc. */
export const QUEUE_GROUPS = { registry: 'registry', delivery: 'delivery' } as const;
export type QueueGroup = (typeof QUEUE_GROUPS)[keyof typeof QUEUE_GROUPS];

/** Default subject prefix (services read theirs from config; tests use a random one). */
export const DEFAULT_SUBJECT_PREFIX = 'tandem';

/** A subject and the message type published on it. */
export interface PublishSubject<M extends Message> {
  /** Full NATS subject, e.g. 'tandem.v1.registry.get_device'. */
  readonly subject: string;
  /** Schema of the message published on the subject. */
  readonly schema: GenMessage<M>;
}

/** A request/reply subject: `schema` is the request, `replySchema` the response. */
export interface RequestSubject<Req extends Message, Res extends Message> extends PublishSubject<Req> {
  readonly kind: 'request';
  /** Catalog key, e.g. 'registry.getDevice'. */
  readonly key: string;
  readonly replySchema: GenMessage<Res>;
  /** Queue group every serving instance subscribes with. */
  readonly queueGroup: QueueGroup;
}

/** A fire-and-forget event subject (no reply). */
export interface EventSubject<M extends Message> extends PublishSubject<M> {
  readonly kind: 'event';
  /** Catalog key, e.g. 'events.deviceRevoked'. */
  readonly key: string;
}

/** The per-device inbox subject, subscribed by the gateway that holds the device's socket. */
export interface InboxSubject extends PublishSubject<bus.InboxMessage> {
  readonly kind: 'inbox';
  readonly accountId: string;
  readonly deviceId: number;
}

/** The per-link relay subject, subscribed by the gateway that holds the companion's socket. */
export interface LinkSubject extends PublishSubject<bus.LinkRelay> {
  readonly kind: 'link';
  readonly linkId: string;
}

type R<Req extends Message, Res extends Message> = RequestSubject<Req, Res>;

/** Registry request subjects: `<prefix>.v1.registry.<op>`, queue group 'registry'. */
export interface RegistrySubjects {
  readonly registerRequestCode: R<
    bus.RegistryRegisterRequestCodeRequest,
    bus.RegistryRegisterRequestCodeResponse
  >;
  readonly registerVerify: R<bus.RegistryRegisterVerifyRequest, bus.RegistryRegisterVerifyResponse>;
  readonly accountLookup: R<bus.RegistryAccountLookupRequest, bus.RegistryAccountLookupResponse>;
  readonly getDevice: R<bus.RegistryGetDeviceRequest, bus.RegistryGetDeviceResponse>;
  readonly getDeviceLists: R<bus.RegistryGetDeviceListsRequest, bus.RegistryGetDeviceListsResponse>;
  readonly uploadPrekeys: R<bus.RegistryUploadPrekeysRequest, bus.RegistryUploadPrekeysResponse>;
  readonly prekeyCount: R<bus.RegistryPrekeyCountRequest, bus.RegistryPrekeyCountResponse>;
  readonly claimBundles: R<bus.RegistryClaimBundlesRequest, bus.RegistryClaimBundlesResponse>;
  readonly getDeviceList: R<bus.RegistryGetDeviceListRequest, bus.RegistryGetDeviceListResponse>;
  readonly linkCreate: R<bus.RegistryLinkCreateRequest, bus.RegistryLinkCreateResponse>;
  readonly linkApprove: R<bus.RegistryLinkApproveRequest, bus.RegistryLinkApproveResponse>;
  readonly linkComplete: R<bus.RegistryLinkCompleteRequest, bus.RegistryLinkCompleteResponse>;
  readonly linkCancel: R<bus.RegistryLinkCancelRequest, bus.RegistryLinkCancelResponse>;
  readonly unlink: R<bus.RegistryUnlinkRequest, bus.RegistryUnlinkResponse>;
  readonly touch: R<bus.RegistryTouchRequest, bus.RegistryTouchResponse>;
}

/** Delivery request subjects: `<prefix>.v1.delivery.<op>`, queue group 'delivery'. */
export interface DeliverySubjects {
  readonly accept: R<bus.DeliveryAcceptRequest, bus.DeliveryAcceptResponse>;
  readonly fetchPage: R<bus.DeliveryFetchPageRequest, bus.DeliveryFetchPageResponse>;
  readonly ack: R<bus.DeliveryAckRequest, bus.DeliveryAckResponse>;
  readonly historyUploadChunk: R<
    bus.DeliveryHistoryUploadChunkRequest,
    bus.DeliveryHistoryUploadChunkResponse
  >;
  readonly historyFetchChunk: R<bus.DeliveryHistoryFetchChunkRequest, bus.DeliveryHistoryFetchChunkResponse>;
  readonly staleCopies: R<bus.DeliveryStaleCopiesRequest, bus.DeliveryStaleCopiesResponse>;
  readonly ping: R<bus.DeliveryPingRequest, bus.DeliveryPingResponse>;
}

/** Event subjects: `<prefix>.v1.evt.<event>`. */
export interface EventSubjects {
  readonly deviceLinked: EventSubject<bus.DeviceLinkedEvent>;
  readonly deviceRevoked: EventSubject<bus.DeviceRevokedEvent>;
  readonly prekeysLow: EventSubject<bus.PrekeysLowEvent>;
  readonly deviceListChanged: EventSubject<bus.DeviceListChangedEvent>;
}

/** Every NATS subject of Tandem, for one prefix. */
export interface SubjectCatalog {
  readonly prefix: string;
  readonly registry: RegistrySubjects;
  readonly delivery: DeliverySubjects;
  readonly events: EventSubjects;
  /** `<prefix>.v1.inbox.<accountId>.<deviceId>`; throws ProtocolError on a malformed address. */
  inbox(accountId: string, deviceId: number): InboxSubject;
  /** `<prefix>.v1.link.<linkId>`; throws ProtocolError on a malformed link id. */
  link(linkId: string): LinkSubject;
  /** Wildcard of every inbox subject, `<prefix>.v1.inbox.*.*` (monitoring, tests). */
  readonly inboxWildcard: string;
  /** Wildcard of every link subject, `<prefix>.v1.link.*`. */
  readonly linkWildcard: string;
  readonly queueGroups: typeof QUEUE_GROUPS;
}

/**
 * Builds the subject catalog for a prefix (default 'tandem'). The version (`v1`) is part of
 * every subject. Throws ProtocolError(INVALID_ARGUMENT) for a prefix that is not dot-separated
 * tokens of [A-Za-z0-9_-].
 */
export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): SubjectCatalog {
  if (!SUBJECT_PREFIX_PATTERN.test(prefix)) {
    throw new ProtocolError(
      ErrorCode.INVALID_ARGUMENT,
      'prefix',
      'must be dot-separated tokens of [A-Za-z0-9_-]',
    );
  }
  const base = `${prefix}.v1`;
  const req = <Req extends Message, Res extends Message>(
    group: QueueGroup,
    key: string,
    op: string,
    schema: GenMessage<Req>,
    replySchema: GenMessage<Res>,
  ): RequestSubject<Req, Res> =>
    Object.freeze({
      kind: 'request',
      key: `${group}.${key}`,
      subject: `${base}.${group}.${op}`,
      schema,
      replySchema,
      queueGroup: group,
    });
  const evt = <M extends Message>(key: string, event: string, schema: GenMessage<M>): EventSubject<M> =>
    Object.freeze({ kind: 'event', key: `events.${key}`, subject: `${base}.evt.${event}`, schema });
  const g = QUEUE_GROUPS;

  const registry: RegistrySubjects = Object.freeze({
    registerRequestCode: req(
      g.registry,
      'registerRequestCode',
      'register_request_code',
      bus.RegistryRegisterRequestCodeRequestSchema,
      bus.RegistryRegisterRequestCodeResponseSchema,
    ),
    registerVerify: req(
      g.registry,
      'registerVerify',
      'register_verify',
      bus.RegistryRegisterVerifyRequestSchema,
      bus.RegistryRegisterVerifyResponseSchema,
    ),
    accountLookup: req(
      g.registry,
      'accountLookup',
      'account_lookup',
      bus.RegistryAccountLookupRequestSchema,
      bus.RegistryAccountLookupResponseSchema,
    ),
    getDevice: req(
      g.registry,
      'getDevice',
      'get_device',
      bus.RegistryGetDeviceRequestSchema,
      bus.RegistryGetDeviceResponseSchema,
    ),
    getDeviceLists: req(
      g.registry,
      'getDeviceLists',
      'get_device_lists',
      bus.RegistryGetDeviceListsRequestSchema,
      bus.RegistryGetDeviceListsResponseSchema,
    ),
    uploadPrekeys: req(
      g.registry,
      'uploadPrekeys',
      'upload_prekeys',
      bus.RegistryUploadPrekeysRequestSchema,
      bus.RegistryUploadPrekeysResponseSchema,
    ),
    prekeyCount: req(
      g.registry,
      'prekeyCount',
      'prekey_count',
      bus.RegistryPrekeyCountRequestSchema,
      bus.RegistryPrekeyCountResponseSchema,
    ),
    claimBundles: req(
      g.registry,
      'claimBundles',
      'claim_bundles',
      bus.RegistryClaimBundlesRequestSchema,
      bus.RegistryClaimBundlesResponseSchema,
    ),
    getDeviceList: req(
      g.registry,
      'getDeviceList',
      'get_device_list',
      bus.RegistryGetDeviceListRequestSchema,
      bus.RegistryGetDeviceListResponseSchema,
    ),
    linkCreate: req(
      g.registry,
      'linkCreate',
      'link_create',
      bus.RegistryLinkCreateRequestSchema,
      bus.RegistryLinkCreateResponseSchema,
    ),
    linkApprove: req(
      g.registry,
      'linkApprove',
      'link_approve',
      bus.RegistryLinkApproveRequestSchema,
      bus.RegistryLinkApproveResponseSchema,
    ),
    linkComplete: req(
      g.registry,
      'linkComplete',
      'link_complete',
      bus.RegistryLinkCompleteRequestSchema,
      bus.RegistryLinkCompleteResponseSchema,
    ),
    linkCancel: req(
      g.registry,
      'linkCancel',
      'link_cancel',
      bus.RegistryLinkCancelRequestSchema,
      bus.RegistryLinkCancelResponseSchema,
    ),
    unlink: req(
      g.registry,
      'unlink',
      'unlink',
      bus.RegistryUnlinkRequestSchema,
      bus.RegistryUnlinkResponseSchema,
    ),
    touch: req(g.registry, 'touch', 'touch', bus.RegistryTouchRequestSchema, bus.RegistryTouchResponseSchema),
  });

  const delivery: DeliverySubjects = Object.freeze({
    accept: req(
      g.delivery,
      'accept',
      'accept',
      bus.DeliveryAcceptRequestSchema,
      bus.DeliveryAcceptResponseSchema,
    ),
    fetchPage: req(
      g.delivery,
      'fetchPage',
      'fetch_page',
      bus.DeliveryFetchPageRequestSchema,
      bus.DeliveryFetchPageResponseSchema,
    ),
    ack: req(g.delivery, 'ack', 'ack', bus.DeliveryAckRequestSchema, bus.DeliveryAckResponseSchema),
    historyUploadChunk: req(
      g.delivery,
      'historyUploadChunk',
      'history_upload_chunk',
      bus.DeliveryHistoryUploadChunkRequestSchema,
      bus.DeliveryHistoryUploadChunkResponseSchema,
    ),
    historyFetchChunk: req(
      g.delivery,
      'historyFetchChunk',
      'history_fetch_chunk',
      bus.DeliveryHistoryFetchChunkRequestSchema,
      bus.DeliveryHistoryFetchChunkResponseSchema,
    ),
    staleCopies: req(
      g.delivery,
      'staleCopies',
      'stale_copies',
      bus.DeliveryStaleCopiesRequestSchema,
      bus.DeliveryStaleCopiesResponseSchema,
    ),
    ping: req(g.delivery, 'ping', 'ping', bus.DeliveryPingRequestSchema, bus.DeliveryPingResponseSchema),
  });

  const events: EventSubjects = Object.freeze({
    deviceLinked: evt('deviceLinked', 'device_linked', bus.DeviceLinkedEventSchema),
    deviceRevoked: evt('deviceRevoked', 'device_revoked', bus.DeviceRevokedEventSchema),
    prekeysLow: evt('prekeysLow', 'prekeys_low', bus.PrekeysLowEventSchema),
    deviceListChanged: evt('deviceListChanged', 'device_list_changed', bus.DeviceListChangedEventSchema),
  });

  return Object.freeze({
    prefix,
    registry,
    delivery,
    events,
    inbox(accountId: string, deviceId: number): InboxSubject {
      if (!UUID_PATTERN.test(accountId)) {
        throw new ProtocolError(ErrorCode.INVALID_ARGUMENT, 'accountId', 'must be a lowercase UUID');
      }
      if (!Number.isInteger(deviceId) || deviceId < 1 || deviceId > MAX_UINT32) {
        throw new ProtocolError(ErrorCode.INVALID_ARGUMENT, 'deviceId', 'must be an integer in 1..2^32-1');
      }
      return Object.freeze({
        kind: 'inbox',
        subject: `${base}.inbox.${accountId}.${deviceId}`,
        schema: bus.InboxMessageSchema,
        accountId,
        deviceId,
      });
    },
    link(linkId: string): LinkSubject {
      if (!UUID_PATTERN.test(linkId)) {
        throw new ProtocolError(ErrorCode.INVALID_ARGUMENT, 'linkId', 'must be a lowercase UUID');
      }
      return Object.freeze({
        kind: 'link',
        subject: `${base}.link.${linkId}`,
        schema: bus.LinkRelaySchema,
        linkId,
      });
    },
    inboxWildcard: `${base}.inbox.*.*`,
    linkWildcard: `${base}.link.*`,
    queueGroups: QUEUE_GROUPS,
  });
}

/** Every request subject of a catalog (registry then delivery), in catalog order. */
export function requestSubjects(catalog: SubjectCatalog): RequestSubject<Message, BusReply>[] {
  return [...Object.values(catalog.registry), ...Object.values(catalog.delivery)] as RequestSubject<
    Message,
    BusReply
  >[];
}

/** Every event subject of a catalog, in catalog order. */
export function eventSubjects(catalog: SubjectCatalog): EventSubject<Message>[] {
  return Object.values(catalog.events) as EventSubject<Message>[];
}
