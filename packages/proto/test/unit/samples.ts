// Valid sample messages: at least one for every message type of tandem.v1 and every oneof case.
// The round-trip test fails when a type or case has no sample here.
import { create, type Message } from '@bufbuild/protobuf';
import * as bus from '../../src/gen/tandem/v1/bus_pb.js';
import * as common from '../../src/gen/tandem/v1/common_pb.js';
import * as content from '../../src/gen/tandem/v1/content_pb.js';
import * as frames from '../../src/gen/tandem/v1/frames_pb.js';
import {
  EnvelopeType,
  ErrorCode,
  LinkCancelReason,
  Platform,
  ReceiptKind,
  RevokeReason,
} from '../../src/index.js';
import {
  MAX_COMPANIONS,
  MAX_HISTORY_CHUNK_BYTES,
  MLKEM768_PUBLIC_KEY_BYTES,
  PROTOCOL_VERSION,
} from '../../src/limits.js';

export const ACCOUNT = '0b7c5b9e-4f0e-4a47-9d1c-2f3b8b9a6e01';
export const OTHER_ACCOUNT = '5d0c1a52-8e1f-4c6b-b7a4-1f6a2e9d3c02';
export const SERVER_ID = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
export const SERVER_ID_2 = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5e';
export const LINK_ID = '3f2e1d0c-9b8a-4766-a554-433221100fed';
export const BLOB_ID = 'c0ffee00-1234-4abc-8def-0123456789ab';

export const bytes = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill);
export const key32 = (fill: number) => bytes(32, fill);
export const sig = (fill: number) => bytes(64, fill);

export const address = (accountId = ACCOUNT, deviceId = 1) =>
  create(common.DeviceAddressSchema, { accountId, deviceId });
const signedPrekey = create(common.SignedPrekeySchema, { id: 1, publicKey: key32(2), signature: sig(3) });
const oneTimePrekey = (id: number) => create(common.OneTimePrekeySchema, { id, publicKey: key32(id) });
const pqPrekey = (id: number) =>
  create(common.PqPrekeySchema, { id, publicKey: bytes(MLKEM768_PUBLIC_KEY_BYTES, id), signature: sig(id) });
const counts = create(common.PrekeyCountsSchema, { oneTime: 42, pqOneTime: 7 });
const companionIdentity = (deviceSignature: Uint8Array) =>
  create(common.DeviceIdentitySchema, { details: bytes(80, 9), accountSignature: sig(10), deviceSignature });
const signedList = create(common.SignedDeviceListSchema, { list: bytes(120, 11), signature: sig(12) });
const deviceLimitDetails = create(common.ErrorDetailsSchema, {
  kind: { case: 'deviceLimit', value: { linkedCount: MAX_COMPANIONS, maxCompanions: MAX_COMPANIONS } },
});
const nextDeviceIdDetails = create(common.ErrorDetailsSchema, {
  kind: { case: 'nextDeviceId', value: { deviceId: 4 } },
});

// ---------------------------------------------------------------------------------------------
// Frame bodies

const registerVerify = create(frames.RegisterVerifySchema, {
  handle: '+4915123456789',
  code: '123456',
  identityKey: key32(1),
  registrationId: 4242,
  signedPrekey,
  oneTimePrekeys: [oneTimePrekey(1), oneTimePrekey(2)],
  pqPrekeys: [pqPrekey(1)],
  pqLastResortPrekey: pqPrekey(99),
  name: 'Pixel 9 📱',
  platform: Platform.ANDROID,
});
const send = create(frames.SendSchema, {
  clientMessageId: 'msg_01HZX-abc',
  recipientAccountId: OTHER_ACCOUNT,
  copies: [
    {
      address: address(OTHER_ACCOUNT, 1),
      registrationId: 11,
      type: EnvelopeType.PREKEY_MESSAGE,
      ciphertext: bytes(200, 1),
    },
    {
      address: address(OTHER_ACCOUNT, 2),
      registrationId: 12,
      type: EnvelopeType.MESSAGE,
      ciphertext: bytes(100, 2),
    },
    {
      address: address(ACCOUNT, 2),
      registrationId: 13,
      type: EnvelopeType.MESSAGE,
      ciphertext: bytes(100, 3),
    },
  ],
});
const sendAccepted = create(frames.SendAcceptedSchema, {
  copies: [
    { address: address(OTHER_ACCOUNT, 1), serverId: SERVER_ID },
    { address: address(OTHER_ACCOUNT, 2), serverId: SERVER_ID_2 },
  ],
  serverTimestampMs: 1_750_000_000_000n,
});
const deliverEnvelope = create(frames.DeliverSchema, {
  serverId: SERVER_ID,
  seq: 17n,
  sender: address(OTHER_ACCOUNT, 2),
  clientMessageId: 'msg-1',
  serverTimestampMs: 1_750_000_000_000n,
  expiresAtMs: 1_752_592_000_000n,
  content: { case: 'envelope', value: { type: EnvelopeType.MESSAGE, ciphertext: bytes(64, 5) } },
});
const deliverReceipt = create(frames.DeliverSchema, {
  serverId: SERVER_ID_2,
  seq: 18n,
  serverTimestampMs: 1_750_000_001_000n,
  expiresAtMs: 1_752_592_001_000n,
  content: {
    case: 'receipt',
    value: {
      kind: ReceiptKind.DELIVERED,
      clientMessageId: 'msg-0',
      recipient: address(OTHER_ACCOUNT, 1),
      timestampMs: 1_750_000_000_900n,
    },
  },
});
const prekeyUpload = create(frames.PrekeyUploadSchema, {
  signedPrekey,
  oneTimePrekeys: [oneTimePrekey(3), oneTimePrekey(4)],
  pqPrekeys: [pqPrekey(5), pqPrekey(6)],
  pqLastResortPrekey: pqPrekey(100),
});
const bundleFetch = create(frames.BundleFetchSchema, { accountId: OTHER_ACCOUNT, deviceIds: [1, 3] });
const bundleResult = create(frames.BundleResultSchema, {
  accountId: OTHER_ACCOUNT,
  bundles: [
    {
      deviceId: 1,
      registrationId: 11,
      identityKey: key32(21),
      signedPrekey,
      oneTimePrekey: oneTimePrekey(8),
      pqPrekey: pqPrekey(9),
      pqLastResort: false,
    },
    {
      deviceId: 3,
      registrationId: 13,
      identityKey: key32(23),
      signedPrekey,
      pqPrekey: pqPrekey(77),
      pqLastResort: true,
    },
  ],
});
const deviceList = create(frames.DeviceListSchema, {
  accountId: ACCOUNT,
  primaryIdentityKey: key32(1),
  devices: [
    {
      deviceId: 1,
      registrationId: 4242,
      identityKey: key32(1),
      name: 'Phone',
      platform: Platform.IOS,
      linkedAtMs: 1n,
    },
    {
      deviceId: 2,
      registrationId: 77,
      identityKey: key32(2),
      name: 'Laptop',
      platform: Platform.DESKTOP,
      linkedAtMs: 1_750_000_000_000n,
      identity: companionIdentity(sig(13)),
    },
    {
      deviceId: 3,
      registrationId: 78,
      identityKey: key32(3),
      name: '',
      platform: Platform.UNSPECIFIED,
      linkedAtMs: 1_750_000_000_000n,
      identity: companionIdentity(sig(14)),
    },
  ],
  signedList,
  nextDeviceId: 4,
});
const linkStart = create(frames.LinkStartSchema, {
  identityKey: key32(31),
  ephemeralKey: key32(32),
  registrationId: 555,
  name: 'Firefox on Linux',
  platform: Platform.WEB,
});
const linkApprove = create(frames.LinkApproveSchema, {
  linkId: LINK_ID,
  companionIdentityKey: key32(31),
  deviceIdentity: companionIdentity(new Uint8Array(0)),
  signedList,
  sealedPayload: bytes(600, 33),
  deviceId: 4,
});
const linkPayload = create(frames.LinkPayloadSchema, {
  linkId: LINK_ID,
  accountId: ACCOUNT,
  deviceId: 4,
  sealedPayload: bytes(600, 33),
});
const linkComplete = create(frames.LinkCompleteSchema, {
  linkId: LINK_ID,
  deviceIdentity: companionIdentity(sig(34)),
  signedPrekey,
  oneTimePrekeys: [oneTimePrekey(1)],
  pqPrekeys: [pqPrekey(2)],
  pqLastResortPrekey: pqPrekey(3),
});
const historyUploadFirst = create(frames.HistoryUploadSchema, {
  blobId: '',
  recipientDeviceId: 4,
  chunkIndex: 0,
  totalChunks: 2,
  totalSize: BigInt(MAX_HISTORY_CHUNK_BYTES + 5),
  data: bytes(MAX_HISTORY_CHUNK_BYTES, 40),
});
const historyUploadLast = create(frames.HistoryUploadSchema, {
  blobId: BLOB_ID,
  recipientDeviceId: 4,
  chunkIndex: 1,
  totalChunks: 2,
  totalSize: BigInt(MAX_HISTORY_CHUNK_BYTES + 5),
  data: bytes(5, 41),
});
const historyChunk = create(frames.HistoryChunkSchema, {
  blobId: BLOB_ID,
  chunkIndex: 0,
  totalChunks: 1,
  totalSize: 10n,
  data: bytes(10, 42),
});
const serverError = create(frames.ServerErrorSchema, {
  code: ErrorCode.DEVICE_LIMIT,
  message: 'the account already has 4 companions',
  details: deviceLimitDetails,
});
const busError = create(bus.BusErrorSchema, {
  code: ErrorCode.CONFLICT,
  message: 'device list changed',
  retryAfterMs: 0,
  details: nextDeviceIdDetails,
});

type ClientBody = frames.ClientFrame['body'];
type ServerBody = frames.ServerFrame['body'];

/** One valid body per ClientFrame case. */
export const CLIENT_BODIES: ClientBody[] = [
  {
    case: 'authenticate',
    value: create(frames.AuthenticateSchema, {
      accountId: ACCOUNT,
      deviceId: 2,
      timestampMs: 1_750_000_000_000n,
      signature: sig(1),
    }),
  },
  { case: 'ping', value: create(frames.PingSchema, { timestampMs: 123n }) },
  { case: 'registerRequestCode', value: create(frames.RegisterRequestCodeSchema, { handle: 'alice.smith' }) },
  { case: 'registerVerify', value: registerVerify },
  { case: 'accountLookup', value: create(frames.AccountLookupSchema, { handle: '+14155550100' }) },
  { case: 'send', value: send },
  {
    case: 'send',
    value: create(frames.SendSchema, {
      clientMessageId: 'retry-1',
      recipientAccountId: OTHER_ACCOUNT,
      singleDevice: true,
      copies: [
        {
          address: address(OTHER_ACCOUNT, 2),
          registrationId: 12,
          type: EnvelopeType.PREKEY_MESSAGE,
          ciphertext: bytes(120, 4),
        },
      ],
    }),
  },
  { case: 'ack', value: create(frames.AckSchema, { serverIds: [SERVER_ID, SERVER_ID_2] }) },
  { case: 'prekeyUpload', value: prekeyUpload },
  { case: 'prekeyCount', value: create(frames.PrekeyCountSchema) },
  { case: 'bundleFetch', value: bundleFetch },
  { case: 'deviceListFetch', value: create(frames.DeviceListFetchSchema, { accountId: ACCOUNT }) },
  { case: 'linkStart', value: linkStart },
  { case: 'linkApprove', value: linkApprove },
  { case: 'linkComplete', value: linkComplete },
  { case: 'linkCancel', value: create(frames.LinkCancelSchema, { linkId: LINK_ID }) },
  { case: 'unlink', value: create(frames.UnlinkSchema, { deviceId: 3, signedList }) },
  { case: 'historyUpload', value: historyUploadFirst },
  { case: 'historyUpload', value: historyUploadLast },
  { case: 'historyFetch', value: create(frames.HistoryFetchSchema, { blobId: BLOB_ID, chunkIndex: 0 }) },
];

/** One valid body per ServerFrame case (with the request id it needs: 0 = push). */
export const SERVER_BODIES: { requestId: number; body: ServerBody }[] = [
  {
    requestId: 0,
    body: {
      case: 'challenge',
      value: create(frames.ChallengeSchema, {
        nonce: bytes(32, 1),
        realm: 'chat.example.org:443',
        serverTimeMs: 1_750_000_000_000n,
        protocolVersion: PROTOCOL_VERSION,
      }),
    },
  },
  {
    requestId: 1,
    body: {
      case: 'authenticated',
      value: create(frames.AuthenticatedSchema, {
        accountId: ACCOUNT,
        deviceId: 1,
        isPrimary: true,
        serverTimeMs: 1_750_000_000_000n,
      }),
    },
  },
  {
    requestId: 2,
    body: { case: 'pong', value: create(frames.PongSchema, { timestampMs: 123n, serverTimeMs: 5n }) },
  },
  {
    requestId: 3,
    body: { case: 'registerCodeSent', value: create(frames.RegisterCodeSentSchema, { expiresAtMs: 9n }) },
  },
  {
    requestId: 4,
    body: { case: 'registered', value: create(frames.RegisteredSchema, { accountId: ACCOUNT, deviceId: 1 }) },
  },
  {
    requestId: 5,
    body: {
      case: 'accountLookupResult',
      value: create(frames.AccountLookupResultSchema, { accountId: OTHER_ACCOUNT }),
    },
  },
  {
    requestId: 6,
    body: {
      case: 'sendResult',
      value: create(frames.SendResultSchema, { result: { case: 'accepted', value: sendAccepted } }),
    },
  },
  {
    requestId: 6,
    body: {
      case: 'sendResult',
      value: create(frames.SendResultSchema, {
        result: {
          case: 'mismatchedDevices',
          value: { missing: [address(OTHER_ACCOUNT, 3)], extra: [address(OTHER_ACCOUNT, 2)] },
        },
      }),
    },
  },
  {
    requestId: 6,
    body: {
      case: 'sendResult',
      value: create(frames.SendResultSchema, {
        result: { case: 'staleDevices', value: { stale: [address(OTHER_ACCOUNT, 1)] } },
      }),
    },
  },
  { requestId: 0, body: { case: 'deliver', value: deliverEnvelope } },
  { requestId: 0, body: { case: 'deliver', value: deliverReceipt } },
  { requestId: 7, body: { case: 'acked', value: create(frames.AckedSchema) } },
  { requestId: 0, body: { case: 'queueEmpty', value: create(frames.QueueEmptySchema) } },
  {
    requestId: 8,
    body: { case: 'prekeyUploadResult', value: create(frames.PrekeyUploadResultSchema, { counts }) },
  },
  {
    requestId: 9,
    body: { case: 'prekeyCountResult', value: create(frames.PrekeyCountResultSchema, { counts }) },
  },
  { requestId: 0, body: { case: 'prekeysLow', value: create(frames.PrekeysLowSchema, { counts }) } },
  { requestId: 10, body: { case: 'bundleResult', value: bundleResult } },
  { requestId: 11, body: { case: 'deviceList', value: deviceList } },
  {
    requestId: 0,
    body: { case: 'devicesChanged', value: create(frames.DevicesChangedSchema, { accountId: ACCOUNT }) },
  },
  {
    requestId: 12,
    body: {
      case: 'linkCode',
      value: create(frames.LinkCodeSchema, { linkId: LINK_ID, expiresAtMs: 1_750_000_300_000n }),
    },
  },
  {
    requestId: 13,
    body: {
      case: 'linkApproved',
      value: create(frames.LinkApprovedSchema, { linkId: LINK_ID, deviceId: 4 }),
    },
  },
  { requestId: 0, body: { case: 'linkPayload', value: linkPayload } },
  {
    requestId: 14,
    body: {
      case: 'linkCompleted',
      value: create(frames.LinkCompletedSchema, { accountId: ACCOUNT, deviceId: 4 }),
    },
  },
  {
    requestId: 0,
    body: {
      case: 'linkCancelled',
      value: create(frames.LinkCancelledSchema, { linkId: LINK_ID, reason: LinkCancelReason.EXPIRED }),
    },
  },
  { requestId: 15, body: { case: 'unlinked', value: create(frames.UnlinkedSchema, { deviceId: 3 }) } },
  {
    requestId: 16,
    body: {
      case: 'historyUploadResult',
      value: create(frames.HistoryUploadResultSchema, { blobId: BLOB_ID, receivedChunks: 1 }),
    },
  },
  { requestId: 17, body: { case: 'historyChunk', value: historyChunk } },
  { requestId: 18, body: { case: 'error', value: serverError } },
  {
    requestId: 0,
    body: {
      case: 'error',
      value: create(frames.ServerErrorSchema, {
        code: ErrorCode.RATE_LIMITED,
        message: 'slow down',
        retryAfterMs: 1500,
      }),
    },
  },
  {
    requestId: 0,
    body: { case: 'goingAway', value: create(frames.GoingAwaySchema, { reconnectDelayMs: 5000 }) },
  },
];

export const CLIENT_FRAMES: frames.ClientFrame[] = CLIENT_BODIES.map((body, i) =>
  create(frames.ClientFrameSchema, { requestId: i + 1, body }),
);
export const SERVER_FRAMES: frames.ServerFrame[] = SERVER_BODIES.map(({ requestId, body }) =>
  create(frames.ServerFrameSchema, { requestId, body }),
);

// ---------------------------------------------------------------------------------------------
// Bus messages

/** One valid request per request subject key (catalog key). */
export const BUS_REQUESTS: Record<string, Message> = {
  'registry.registerRequestCode': create(bus.RegistryRegisterRequestCodeRequestSchema, {
    request: { handle: 'alice.smith' },
  }),
  'registry.registerVerify': create(bus.RegistryRegisterVerifyRequestSchema, { request: registerVerify }),
  'registry.accountLookup': create(bus.RegistryAccountLookupRequestSchema, {
    requester: address(),
    request: { handle: 'bob_99' },
  }),
  'registry.getDevice': create(bus.RegistryGetDeviceRequestSchema, { device: address(ACCOUNT, 2) }),
  'registry.getDeviceLists': create(bus.RegistryGetDeviceListsRequestSchema, {
    accountIds: [ACCOUNT, OTHER_ACCOUNT],
  }),
  'registry.uploadPrekeys': create(bus.RegistryUploadPrekeysRequestSchema, {
    device: address(),
    upload: prekeyUpload,
  }),
  'registry.prekeyCount': create(bus.RegistryPrekeyCountRequestSchema, { device: address() }),
  'registry.claimBundles': create(bus.RegistryClaimBundlesRequestSchema, {
    requester: address(),
    request: bundleFetch,
  }),
  'registry.getDeviceList': create(bus.RegistryGetDeviceListRequestSchema, {
    requester: address(),
    request: { accountId: ACCOUNT },
  }),
  'registry.linkCreate': create(bus.RegistryLinkCreateRequestSchema, { request: linkStart }),
  'registry.linkApprove': create(bus.RegistryLinkApproveRequestSchema, {
    requester: address(),
    request: linkApprove,
  }),
  'registry.linkComplete': create(bus.RegistryLinkCompleteRequestSchema, { request: linkComplete }),
  'registry.linkCancel': create(bus.RegistryLinkCancelRequestSchema, { request: { linkId: LINK_ID } }),
  'registry.unlink': create(bus.RegistryUnlinkRequestSchema, {
    requester: address(),
    request: { deviceId: 2, signedList },
  }),
  'registry.touch': create(bus.RegistryTouchRequestSchema, {
    devices: [address(), address(ACCOUNT, 2), address(OTHER_ACCOUNT, 1)],
    seenAtMs: 1_750_000_000_000n,
  }),
  'delivery.accept': create(bus.DeliveryAcceptRequestSchema, {
    sender: address(),
    clientMessageId: 'msg-1',
    copies: [
      { recipient: address(OTHER_ACCOUNT, 1), type: EnvelopeType.PREKEY_MESSAGE, ciphertext: bytes(300, 1) },
      { recipient: address(ACCOUNT, 2), type: EnvelopeType.MESSAGE, ciphertext: bytes(30, 2) },
    ],
  }),
  'delivery.fetchPage': create(bus.DeliveryFetchPageRequestSchema, {
    device: address(),
    afterSeq: 16n,
    limit: 100,
  }),
  'delivery.ack': create(bus.DeliveryAckRequestSchema, { device: address(), serverIds: [SERVER_ID] }),
  'delivery.historyUploadChunk': create(bus.DeliveryHistoryUploadChunkRequestSchema, {
    uploader: address(),
    request: historyUploadLast,
  }),
  'delivery.historyFetchChunk': create(bus.DeliveryHistoryFetchChunkRequestSchema, {
    requester: address(ACCOUNT, 4),
    request: { blobId: BLOB_ID, chunkIndex: 1 },
  }),
  'delivery.staleCopies': create(bus.DeliveryStaleCopiesRequestSchema, {
    devices: [address(), address(ACCOUNT, 2)],
    minAgeMs: 5000,
    limit: 8,
  }),
  'delivery.ping': create(bus.DeliveryPingRequestSchema),
};

/** One valid `ok` value per request subject key. */
export const BUS_OKS: Record<string, Message> = {
  'registry.registerRequestCode': create(frames.RegisterCodeSentSchema, { expiresAtMs: 1_750_000_600_000n }),
  'registry.registerVerify': create(frames.RegisteredSchema, { accountId: ACCOUNT, deviceId: 1 }),
  'registry.accountLookup': create(frames.AccountLookupResultSchema, { accountId: OTHER_ACCOUNT }),
  'registry.getDevice': create(bus.RegistryDeviceSchema, {
    address: address(ACCOUNT, 2),
    registrationId: 77,
    identityKey: key32(2),
    status: common.DeviceStatus.ACTIVE,
    isPrimary: false,
  }),
  'registry.getDeviceLists': create(bus.RegistryDeviceListsSchema, {
    accounts: [
      {
        accountId: ACCOUNT,
        devices: [
          { deviceId: 1, registrationId: 4242 },
          { deviceId: 2, registrationId: 77 },
        ],
      },
      { accountId: OTHER_ACCOUNT, devices: [{ deviceId: 1, registrationId: 11 }] },
    ],
  }),
  'registry.uploadPrekeys': create(frames.PrekeyUploadResultSchema, { counts }),
  'registry.prekeyCount': create(frames.PrekeyCountResultSchema, { counts }),
  'registry.claimBundles': bundleResult,
  'registry.getDeviceList': deviceList,
  'registry.linkCreate': create(frames.LinkCodeSchema, { linkId: LINK_ID, expiresAtMs: 1_750_000_300_000n }),
  'registry.linkApprove': create(frames.LinkApprovedSchema, { linkId: LINK_ID, deviceId: 4 }),
  'registry.linkComplete': create(frames.LinkCompletedSchema, { accountId: ACCOUNT, deviceId: 4 }),
  'registry.linkCancel': create(frames.LinkCancelledSchema, {
    linkId: LINK_ID,
    reason: LinkCancelReason.CANCELLED_BY_COMPANION,
  }),
  'registry.unlink': create(frames.UnlinkedSchema, { deviceId: 2 }),
  'registry.touch': create(bus.BusOkSchema),
  'delivery.accept': sendAccepted,
  'delivery.fetchPage': create(bus.DeliveryPageSchema, {
    items: [deliverEnvelope, deliverReceipt],
    more: true,
  }),
  'delivery.ack': create(bus.DeliveryAckedSchema, { removed: 1 }),
  'delivery.historyUploadChunk': create(frames.HistoryUploadResultSchema, {
    blobId: BLOB_ID,
    receivedChunks: 2,
  }),
  'delivery.historyFetchChunk': historyChunk,
  'delivery.staleCopies': create(bus.DeliveryStaleCopiesSchema, {
    devices: [{ device: address(ACCOUNT, 2), copies: [{ serverId: SERVER_ID, seq: 17n }] }],
  }),
  'delivery.ping': create(bus.BusOkSchema),
};

export const BUS_ERROR = busError;

/** One valid message per event subject key. */
export const BUS_EVENTS: Record<string, Message> = {
  'events.deviceLinked': create(bus.DeviceLinkedEventSchema, { device: address(ACCOUNT, 4) }),
  'events.deviceRevoked': create(bus.DeviceRevokedEventSchema, {
    device: address(ACCOUNT, 2),
    reason: RevokeReason.UNLINKED_BY_PRIMARY,
  }),
  'events.prekeysLow': create(bus.PrekeysLowEventSchema, { device: address(), counts }),
  'events.deviceListChanged': create(bus.DeviceListChangedEventSchema, { accountId: ACCOUNT }),
};

export const INBOX_MESSAGES: bus.InboxMessage[] = [
  create(bus.InboxMessageSchema, { kind: { case: 'deliver', value: deliverEnvelope } }),
  create(bus.InboxMessageSchema, { kind: { case: 'displace', value: { connectionId: 'gw-3_c0nn-77' } } }),
  create(bus.InboxMessageSchema, {
    kind: { case: 'revoked', value: { reason: RevokeReason.UNLINKED_BY_SELF } },
  }),
];

export const LINK_RELAYS: bus.LinkRelay[] = [
  create(bus.LinkRelaySchema, { kind: { case: 'payload', value: linkPayload } }),
  create(bus.LinkRelaySchema, {
    kind: { case: 'cancelled', value: { linkId: LINK_ID, reason: LinkCancelReason.DEVICE_LIMIT } },
  }),
];

const dataMessage = create(content.DataMessageSchema, {
  text: 'hello',
  data: bytes(3, 1),
  sentAtMs: 1_750_000_000_000n,
});

/** End-to-end content samples: every Content case and the linking payload. */
export const CONTENT_MESSAGES: Message[] = [
  create(content.ContentSchema, { body: { case: 'data', value: dataMessage } }),
  create(content.ContentSchema, {
    body: {
      case: 'sent',
      value: { destinationAccountId: OTHER_ACCOUNT, clientMessageId: 'msg-1', message: dataMessage },
    },
  }),
  create(content.ContentSchema, {
    body: {
      case: 'historyKey',
      value: {
        recipientDeviceId: 2,
        blobId: BLOB_ID,
        key: key32(5),
        sha256: key32(6),
        size: 1000n,
        totalChunks: 1,
      },
    },
  }),
  create(content.ContentSchema, {
    body: { case: 'retryRequest', value: { clientMessageId: 'msg-1', attempt: 2, final: false } },
  }),
  create(content.ContentSchema, {
    body: { case: 'data', value: dataMessage },
    resendOf: 'msg-0',
  }),
  create(content.LinkingPayloadSchema, {
    accountId: ACCOUNT,
    deviceId: 2,
    primaryIdentityKey: key32(7),
    details: bytes(65, 8),
    accountSignature: sig(9),
    handle: 'alice',
  }),
];
