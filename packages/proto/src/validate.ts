import type { DescEnum, DescField, DescMessage, Message } from '@bufbuild/protobuf';
import { ScalarType } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { ProtocolError } from './errors.js';
import { SERVER_PUSH_CASES, SERVER_PUSH_OR_RESPONSE_CASES } from './frames.js';
import * as bus from './gen/tandem/v1/bus_pb.js';
import * as common from './gen/tandem/v1/common_pb.js';
import { ErrorCode } from './gen/tandem/v1/common_pb.js';
import * as content from './gen/tandem/v1/content_pb.js';
import * as frames from './gen/tandem/v1/frames_pb.js';
import {
  CHALLENGE_NONCE_BYTES,
  CLIENT_MESSAGE_ID_PATTERN,
  CONNECTION_ID_PATTERN,
  HANDLE_PATTERN,
  IDENTITY_KEY_BYTES,
  MAX_ACK_BATCH,
  MAX_CIPHERTEXT_BYTES,
  MAX_COMPANIONS,
  MAX_CONTENT_DATA_BYTES,
  MAX_COPIES_PER_SEND,
  MAX_DETAILS_BYTES,
  MAX_DEVICE_LIST_BYTES,
  MAX_DEVICE_LISTS_PER_REQUEST,
  MAX_DEVICE_NAME,
  MAX_DEVICES_PER_ACCOUNT,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_HISTORY_BLOB_BYTES,
  MAX_HISTORY_CHUNK_BYTES,
  MAX_HISTORY_CHUNKS,
  MAX_ONE_TIME_PREKEYS_PER_UPLOAD,
  MAX_PAGE_BYTES,
  MAX_PAGE_SIZE,
  MAX_PQ_PREKEYS_PER_UPLOAD,
  MAX_RETRY_ATTEMPTS,
  MAX_SEALED_PAYLOAD_BYTES,
  MAX_STALE_AGE_MS,
  MAX_STALE_CHECK_DEVICES,
  MAX_STALE_COPIES_PER_DEVICE,
  MAX_TEXT_CHARS,
  MAX_TOUCH_BATCH,
  MAX_UINT32,
  MAX_UINT64_VALUE,
  MLKEM768_PUBLIC_KEY_BYTES,
  PRIMARY_DEVICE_ID,
  REALM_PATTERN,
  SIGNATURE_BYTES,
  UUID_PATTERN,
  VERIFICATION_CODE_PATTERN,
  X25519_PUBLIC_KEY_BYTES,
} from './limits.js';

// ---------------------------------------------------------------------------------------------
// Rule vocabulary. Every field of every message has exactly one rule (a unit test checks it).

/** A field rule of the validation table (exported for the coverage test; not a stable API). */
export type FieldRule =
  | { readonly t: 'str'; readonly re: RegExp; readonly what: string; readonly optional?: boolean }
  | { readonly t: 'text'; readonly min: number; readonly max: number }
  | { readonly t: 'bytes'; readonly min: number; readonly max: number; readonly key?: boolean }
  | { readonly t: 'bytesOneOf'; readonly lengths: readonly number[] }
  | { readonly t: 'u32'; readonly min: number; readonly max: number }
  | { readonly t: 'u64'; readonly min: bigint; readonly max: bigint }
  | { readonly t: 'bool' }
  | { readonly t: 'enum'; readonly unspecified: boolean }
  | { readonly t: 'msg'; readonly required: boolean }
  | {
      readonly t: 'list';
      readonly min: number;
      readonly max: number;
      readonly item?: FieldRule;
      readonly unique?: (item: unknown) => string;
      readonly uniqueWhat?: string;
    }
  | { readonly t: 'oneof'; readonly required: boolean; readonly code?: ErrorCode };

const uuid: FieldRule = { t: 'str', re: UUID_PATTERN, what: 'a lowercase UUID' };
const optUuid: FieldRule = { ...uuid, optional: true };
const clientMessageId: FieldRule = {
  t: 'str',
  re: CLIENT_MESSAGE_ID_PATTERN,
  what: '1..64 characters of [A-Za-z0-9_-]',
};
const handle: FieldRule = { t: 'str', re: HANDLE_PATTERN, what: 'a handle (E.164 number or username)' };
const u32 = (min: number, max = MAX_UINT32): FieldRule => ({ t: 'u32', min, max });
const u64 = (min: bigint, max = MAX_UINT64_VALUE): FieldRule => ({ t: 'u64', min, max });
const anyU32 = u32(0);
const anyU64 = u64(0n);
const deviceId = u32(PRIMARY_DEVICE_ID);
const companionId = u32(PRIMARY_DEVICE_ID + 1);
const registrationId = u32(1);
const prekeyId = u32(1);
const timestamp = u64(1n);
const bool: FieldRule = { t: 'bool' };
const key = (len: number): FieldRule => ({ t: 'bytes', min: len, max: len, key: true });
const identityKey = key(IDENTITY_KEY_BYTES);
const x25519Key = key(X25519_PUBLIC_KEY_BYTES);
const signature: FieldRule = { t: 'bytes', min: SIGNATURE_BYTES, max: SIGNATURE_BYTES };
const bytes = (min: number, max: number): FieldRule => ({ t: 'bytes', min, max });
const ciphertext = bytes(1, MAX_CIPHERTEXT_BYTES);
const text = (min: number, max: number): FieldRule => ({ t: 'text', min, max });
const enumKnown: FieldRule = { t: 'enum', unspecified: false };
const required: FieldRule = { t: 'msg', required: true };
const optional: FieldRule = { t: 'msg', required: false };
const oneofRequired: FieldRule = { t: 'oneof', required: true };
const frameBody: FieldRule = { t: 'oneof', required: true, code: ErrorCode.BAD_FRAME };

interface Addr {
  accountId: string;
  deviceId: number;
}
/** Uniqueness by the DeviceAddress in `field` of each item, or by the item itself (field undefined). */
const byAddress = (field?: string) => ({
  unique: (item: unknown) => {
    const a = field === undefined ? (item as Addr) : (item as Record<string, Addr | undefined>)[field];
    return a === undefined ? '' : `${a.accountId}/${a.deviceId}`;
  },
  uniqueWhat: field === undefined ? 'address' : `${field} (account_id, device_id)`,
});
const bySelf = { unique: (item: unknown) => String(item), uniqueWhat: 'value' };
const byKey = (field: string) => ({
  unique: (item: unknown) => String((item as Record<string, unknown>)[field]),
  uniqueWhat: field,
});
const list = (
  min: number,
  max: number,
  extra: Partial<Extract<FieldRule, { t: 'list' }>> = {},
): FieldRule => ({
  t: 'list',
  min,
  max,
  ...extra,
});
const addressList = (min: number, max: number) => list(min, max, byAddress());
const oneTimePrekeys = list(0, MAX_ONE_TIME_PREKEYS_PER_UPLOAD, byKey('id'));
const pqPrekeys = list(0, MAX_PQ_PREKEYS_PER_UPLOAD, byKey('id'));
const deviceName = text(1, MAX_DEVICE_NAME);
const errorMessage = text(0, MAX_ERROR_MESSAGE_CHARS);

/** Rules per message type name, per proto field (or oneof) name. */
export const RULES: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  // common.proto
  'tandem.v1.DeviceAddress': { account_id: uuid, device_id: deviceId },
  'tandem.v1.SignedPrekey': { id: prekeyId, public_key: x25519Key, signature },
  'tandem.v1.OneTimePrekey': { id: prekeyId, public_key: x25519Key },
  'tandem.v1.PqPrekey': { id: prekeyId, public_key: key(MLKEM768_PUBLIC_KEY_BYTES), signature },
  'tandem.v1.PrekeyCounts': { one_time: anyU32, pq_one_time: anyU32 },
  'tandem.v1.DeviceIdentity': {
    details: bytes(1, MAX_DETAILS_BYTES),
    account_signature: signature,
    device_signature: { t: 'bytesOneOf', lengths: [0, SIGNATURE_BYTES] },
  },
  'tandem.v1.SignedDeviceList': { list: bytes(1, MAX_DEVICE_LIST_BYTES), signature },
  'tandem.v1.ErrorDetails': { kind: { t: 'oneof', required: false } },
  'tandem.v1.DeviceLimitDetails': { linked_count: anyU32, max_companions: anyU32 },
  'tandem.v1.NextDeviceIdDetails': { device_id: companionId },

  // content.proto (end-to-end content; validated by devices after decrypting)
  'tandem.v1.Content': { body: oneofRequired, resend_of: { ...clientMessageId, optional: true } },
  'tandem.v1.RetryRequest': {
    client_message_id: clientMessageId,
    attempt: u32(1, MAX_RETRY_ATTEMPTS),
    final: bool,
  },
  'tandem.v1.DataMessage': {
    text: text(0, MAX_TEXT_CHARS),
    data: bytes(0, MAX_CONTENT_DATA_BYTES),
    sent_at_ms: anyU64,
  },
  'tandem.v1.SentTranscript': {
    destination_account_id: uuid,
    client_message_id: clientMessageId,
    message: required,
  },
  'tandem.v1.HistoryKey': {
    recipient_device_id: companionId,
    blob_id: uuid,
    key: bytes(32, 32),
    sha256: bytes(32, 32),
    size: u64(1n, BigInt(MAX_HISTORY_BLOB_BYTES)),
    total_chunks: u32(1, MAX_HISTORY_CHUNKS),
  },
  'tandem.v1.LinkingPayload': {
    account_id: uuid,
    device_id: companionId,
    primary_identity_key: identityKey,
    details: bytes(1, MAX_DETAILS_BYTES),
    account_signature: signature,
    handle,
  },

  // frames.proto
  'tandem.v1.ClientFrame': { request_id: u32(1), body: frameBody },
  'tandem.v1.ServerFrame': { request_id: anyU32, body: frameBody },
  'tandem.v1.Challenge': {
    nonce: bytes(CHALLENGE_NONCE_BYTES, CHALLENGE_NONCE_BYTES),
    realm: { t: 'str', re: REALM_PATTERN, what: '1..128 characters of [A-Za-z0-9._:-]' },
    server_time_ms: timestamp,
    protocol_version: u32(1),
  },
  'tandem.v1.Authenticate': { account_id: uuid, device_id: deviceId, timestamp_ms: timestamp, signature },
  'tandem.v1.Authenticated': {
    account_id: uuid,
    device_id: deviceId,
    is_primary: bool,
    server_time_ms: timestamp,
  },
  'tandem.v1.Ping': { timestamp_ms: anyU64 },
  'tandem.v1.Pong': { timestamp_ms: anyU64, server_time_ms: timestamp },
  'tandem.v1.GoingAway': { reconnect_delay_ms: anyU32 },
  'tandem.v1.ServerError': {
    code: enumKnown,
    message: errorMessage,
    retry_after_ms: anyU32,
    details: optional,
  },
  'tandem.v1.RegisterRequestCode': { handle },
  'tandem.v1.RegisterCodeSent': { expires_at_ms: timestamp },
  'tandem.v1.RegisterVerify': {
    handle,
    code: { t: 'str', re: VERIFICATION_CODE_PATTERN, what: '6 digits' },
    identity_key: identityKey,
    registration_id: registrationId,
    signed_prekey: required,
    one_time_prekeys: oneTimePrekeys,
    pq_prekeys: pqPrekeys,
    pq_last_resort_prekey: required,
    name: deviceName,
    platform: enumKnown,
  },
  'tandem.v1.Registered': { account_id: uuid, device_id: u32(PRIMARY_DEVICE_ID, PRIMARY_DEVICE_ID) },
  'tandem.v1.AccountLookup': { handle },
  'tandem.v1.AccountLookupResult': { account_id: uuid },
  'tandem.v1.OutgoingCopy': {
    address: required,
    registration_id: registrationId,
    type: enumKnown,
    ciphertext,
  },
  'tandem.v1.Send': {
    client_message_id: clientMessageId,
    recipient_account_id: uuid,
    copies: list(1, MAX_COPIES_PER_SEND, byAddress('address')),
    single_device: bool,
  },
  'tandem.v1.SendResult': { result: oneofRequired },
  'tandem.v1.SendAccepted': {
    copies: list(1, MAX_COPIES_PER_SEND, byAddress('address')),
    server_timestamp_ms: timestamp,
  },
  'tandem.v1.AcceptedCopy': { address: required, server_id: uuid },
  'tandem.v1.MismatchedDevices': {
    missing: addressList(0, MAX_DEVICES_PER_ACCOUNT + MAX_COMPANIONS),
    extra: addressList(0, MAX_COPIES_PER_SEND),
  },
  'tandem.v1.StaleDevices': { stale: addressList(1, MAX_COPIES_PER_SEND) },
  'tandem.v1.Envelope': { type: enumKnown, ciphertext },
  'tandem.v1.Receipt': {
    kind: enumKnown,
    client_message_id: clientMessageId,
    recipient: required,
    timestamp_ms: timestamp,
  },
  'tandem.v1.Deliver': {
    server_id: uuid,
    seq: u64(1n),
    sender: optional,
    client_message_id: { ...clientMessageId, optional: true },
    server_timestamp_ms: timestamp,
    expires_at_ms: timestamp,
    content: oneofRequired,
  },
  'tandem.v1.Ack': { server_ids: list(1, MAX_ACK_BATCH, { item: uuid, ...bySelf }) },
  'tandem.v1.Acked': {},
  'tandem.v1.QueueEmpty': {},
  'tandem.v1.PrekeyUpload': {
    signed_prekey: optional,
    one_time_prekeys: oneTimePrekeys,
    pq_prekeys: pqPrekeys,
    pq_last_resort_prekey: optional,
  },
  'tandem.v1.PrekeyUploadResult': { counts: required },
  'tandem.v1.PrekeyCount': {},
  'tandem.v1.PrekeyCountResult': { counts: required },
  'tandem.v1.PrekeysLow': { counts: required },
  'tandem.v1.BundleFetch': {
    account_id: uuid,
    device_ids: list(0, MAX_DEVICES_PER_ACCOUNT, { item: deviceId, ...bySelf }),
  },
  'tandem.v1.BundleResult': {
    account_id: uuid,
    bundles: list(1, MAX_DEVICES_PER_ACCOUNT, byKey('deviceId')),
  },
  'tandem.v1.DeviceBundle': {
    device_id: deviceId,
    registration_id: registrationId,
    identity_key: identityKey,
    signed_prekey: required,
    one_time_prekey: optional,
    pq_prekey: required,
    pq_last_resort: bool,
  },
  'tandem.v1.DeviceListFetch': { account_id: uuid },
  'tandem.v1.DeviceList': {
    account_id: uuid,
    primary_identity_key: identityKey,
    devices: list(1, MAX_DEVICES_PER_ACCOUNT, byKey('deviceId')),
    signed_list: optional,
    next_device_id: anyU32,
  },
  'tandem.v1.DeviceInfo': {
    device_id: deviceId,
    registration_id: registrationId,
    identity_key: identityKey,
    name: text(0, MAX_DEVICE_NAME),
    platform: { t: 'enum', unspecified: true },
    linked_at_ms: timestamp,
    identity: optional,
  },
  'tandem.v1.DevicesChanged': { account_id: uuid },
  'tandem.v1.LinkStart': {
    identity_key: identityKey,
    ephemeral_key: x25519Key,
    registration_id: registrationId,
    name: deviceName,
    platform: enumKnown,
  },
  'tandem.v1.LinkCode': { link_id: uuid, expires_at_ms: timestamp },
  'tandem.v1.LinkApprove': {
    link_id: uuid,
    companion_identity_key: identityKey,
    device_identity: required,
    signed_list: required,
    sealed_payload: bytes(1, MAX_SEALED_PAYLOAD_BYTES),
    device_id: companionId,
  },
  'tandem.v1.LinkApproved': { link_id: uuid, device_id: companionId },
  'tandem.v1.LinkPayload': {
    link_id: uuid,
    account_id: uuid,
    device_id: companionId,
    sealed_payload: bytes(1, MAX_SEALED_PAYLOAD_BYTES),
  },
  'tandem.v1.LinkComplete': {
    link_id: uuid,
    device_identity: required,
    signed_prekey: required,
    one_time_prekeys: oneTimePrekeys,
    pq_prekeys: pqPrekeys,
    pq_last_resort_prekey: required,
  },
  'tandem.v1.LinkCompleted': { account_id: uuid, device_id: companionId },
  'tandem.v1.LinkCancel': { link_id: uuid },
  'tandem.v1.LinkCancelled': { link_id: uuid, reason: enumKnown },
  'tandem.v1.Unlink': { device_id: companionId, signed_list: optional },
  'tandem.v1.Unlinked': { device_id: companionId },
  'tandem.v1.HistoryUpload': {
    blob_id: optUuid,
    recipient_device_id: companionId,
    chunk_index: u32(0, MAX_HISTORY_CHUNKS - 1),
    total_chunks: u32(1, MAX_HISTORY_CHUNKS),
    total_size: u64(1n, BigInt(MAX_HISTORY_BLOB_BYTES)),
    data: bytes(1, MAX_HISTORY_CHUNK_BYTES),
  },
  'tandem.v1.HistoryUploadResult': { blob_id: uuid, received_chunks: u32(1, MAX_HISTORY_CHUNKS) },
  'tandem.v1.HistoryFetch': { blob_id: uuid, chunk_index: u32(0, MAX_HISTORY_CHUNKS - 1) },
  'tandem.v1.HistoryChunk': {
    blob_id: uuid,
    chunk_index: u32(0, MAX_HISTORY_CHUNKS - 1),
    total_chunks: u32(1, MAX_HISTORY_CHUNKS),
    total_size: u64(1n, BigInt(MAX_HISTORY_BLOB_BYTES)),
    data: bytes(1, MAX_HISTORY_CHUNK_BYTES),
  },

  // bus.proto
  'tandem.v1.BusError': { code: enumKnown, message: errorMessage, retry_after_ms: anyU32, details: optional },
  'tandem.v1.BusOk': {},
  'tandem.v1.RegistryRegisterRequestCodeRequest': { request: required },
  'tandem.v1.RegistryRegisterRequestCodeResponse': { result: oneofRequired },
  'tandem.v1.RegistryRegisterVerifyRequest': { request: required },
  'tandem.v1.RegistryRegisterVerifyResponse': { result: oneofRequired },
  'tandem.v1.RegistryAccountLookupRequest': { requester: required, request: required },
  'tandem.v1.RegistryAccountLookupResponse': { result: oneofRequired },
  'tandem.v1.RegistryGetDeviceRequest': { device: required },
  'tandem.v1.RegistryGetDeviceResponse': { result: oneofRequired },
  'tandem.v1.RegistryDevice': {
    address: required,
    registration_id: registrationId,
    identity_key: identityKey,
    status: enumKnown,
    is_primary: bool,
  },
  'tandem.v1.RegistryGetDeviceListsRequest': {
    account_ids: list(1, MAX_DEVICE_LISTS_PER_REQUEST, { item: uuid, ...bySelf }),
  },
  'tandem.v1.RegistryGetDeviceListsResponse': { result: oneofRequired },
  'tandem.v1.RegistryDeviceLists': { accounts: list(0, MAX_DEVICE_LISTS_PER_REQUEST, byKey('accountId')) },
  'tandem.v1.AccountDevices': {
    account_id: uuid,
    devices: list(1, MAX_DEVICES_PER_ACCOUNT, byKey('deviceId')),
  },
  'tandem.v1.DeviceRegistration': { device_id: deviceId, registration_id: registrationId },
  'tandem.v1.RegistryUploadPrekeysRequest': { device: required, upload: required },
  'tandem.v1.RegistryUploadPrekeysResponse': { result: oneofRequired },
  'tandem.v1.RegistryPrekeyCountRequest': { device: required },
  'tandem.v1.RegistryPrekeyCountResponse': { result: oneofRequired },
  'tandem.v1.RegistryClaimBundlesRequest': { requester: required, request: required },
  'tandem.v1.RegistryClaimBundlesResponse': { result: oneofRequired },
  'tandem.v1.RegistryGetDeviceListRequest': { requester: required, request: required },
  'tandem.v1.RegistryGetDeviceListResponse': { result: oneofRequired },
  'tandem.v1.RegistryLinkCreateRequest': { request: required },
  'tandem.v1.RegistryLinkCreateResponse': { result: oneofRequired },
  'tandem.v1.RegistryLinkApproveRequest': { requester: required, request: required },
  'tandem.v1.RegistryLinkApproveResponse': { result: oneofRequired },
  'tandem.v1.RegistryLinkCompleteRequest': { request: required },
  'tandem.v1.RegistryLinkCompleteResponse': { result: oneofRequired },
  'tandem.v1.RegistryLinkCancelRequest': { requester: optional, request: required },
  'tandem.v1.RegistryLinkCancelResponse': { result: oneofRequired },
  'tandem.v1.RegistryUnlinkRequest': { requester: required, request: required },
  'tandem.v1.RegistryUnlinkResponse': { result: oneofRequired },
  'tandem.v1.RegistryTouchRequest': {
    devices: list(1, MAX_TOUCH_BATCH, byAddress()),
    seen_at_ms: timestamp,
  },
  'tandem.v1.RegistryTouchResponse': { result: oneofRequired },
  'tandem.v1.DeliveryAcceptRequest': {
    sender: required,
    client_message_id: clientMessageId,
    copies: list(1, MAX_COPIES_PER_SEND, byAddress('recipient')),
  },
  'tandem.v1.DeliveryCopy': { recipient: required, type: enumKnown, ciphertext },
  'tandem.v1.DeliveryAcceptResponse': { result: oneofRequired },
  'tandem.v1.DeliveryFetchPageRequest': { device: required, after_seq: anyU64, limit: u32(1, MAX_PAGE_SIZE) },
  'tandem.v1.DeliveryFetchPageResponse': { result: oneofRequired },
  'tandem.v1.DeliveryPage': { items: list(0, MAX_PAGE_SIZE, byKey('serverId')), more: bool },
  'tandem.v1.DeliveryAckRequest': {
    device: required,
    server_ids: list(1, MAX_ACK_BATCH, { item: uuid, ...bySelf }),
  },
  'tandem.v1.DeliveryAckResponse': { result: oneofRequired },
  'tandem.v1.DeliveryAcked': { removed: anyU32 },
  'tandem.v1.DeliveryHistoryUploadChunkRequest': { uploader: required, request: required },
  'tandem.v1.DeliveryHistoryUploadChunkResponse': { result: oneofRequired },
  'tandem.v1.DeliveryHistoryFetchChunkRequest': { requester: required, request: required },
  'tandem.v1.DeliveryHistoryFetchChunkResponse': { result: oneofRequired },
  'tandem.v1.DeliveryStaleCopiesRequest': {
    devices: list(1, MAX_STALE_CHECK_DEVICES, byAddress()),
    min_age_ms: u32(1, MAX_STALE_AGE_MS),
    limit: u32(1, MAX_STALE_COPIES_PER_DEVICE),
  },
  'tandem.v1.DeliveryStaleCopiesResponse': { result: oneofRequired },
  'tandem.v1.DeliveryStaleCopies': { devices: list(0, MAX_STALE_CHECK_DEVICES, byAddress('device')) },
  'tandem.v1.DeviceStaleCopies': {
    device: required,
    copies: list(1, MAX_STALE_COPIES_PER_DEVICE, byKey('serverId')),
  },
  'tandem.v1.QueuedCopyRef': { server_id: uuid, seq: u64(1n) },
  'tandem.v1.DeliveryPingRequest': {},
  'tandem.v1.DeliveryPingResponse': { result: oneofRequired },
  'tandem.v1.DeviceLinkedEvent': { device: required },
  'tandem.v1.DeviceRevokedEvent': { device: required, reason: enumKnown },
  'tandem.v1.PrekeysLowEvent': { device: required, counts: required },
  'tandem.v1.DeviceListChangedEvent': { account_id: uuid },
  'tandem.v1.InboxMessage': { kind: oneofRequired },
  'tandem.v1.InboxDisplace': {
    connection_id: { t: 'str', re: CONNECTION_ID_PATTERN, what: '1..64 characters of [A-Za-z0-9_-]' },
  },
  'tandem.v1.InboxRevoked': { reason: enumKnown },
  'tandem.v1.LinkRelay': { kind: oneofRequired },
};

// ---------------------------------------------------------------------------------------------
// Cross-field checks (run after a message's own fields passed)

type Fail = (path: string, reason: string, code?: ErrorCode) => never;
type Check = (msg: never, path: string, fail: Fail) => void;
const CHECKS = new Map<string, Check>();
function check<T extends Message>(
  schema: GenMessage<T>,
  fn: (msg: T, path: string, fail: Fail) => void,
): void {
  CHECKS.set(schema.typeName, fn as Check);
}

const fail: Fail = (path, reason, code = ErrorCode.INVALID_ARGUMENT) => {
  throw new ProtocolError(code, path, reason);
};

check(frames.ServerFrameSchema, (m, path, fail) => {
  const c = m.body.case;
  if (c === undefined || SERVER_PUSH_OR_RESPONSE_CASES.has(c)) return;
  if (SERVER_PUSH_CASES.has(c)) {
    if (m.requestId !== 0) fail(`${path}.request_id`, `must be 0 for the push ${c}`, ErrorCode.BAD_FRAME);
  } else if (m.requestId === 0) {
    fail(`${path}.request_id`, `must be >= 1 for the response ${c}`, ErrorCode.BAD_FRAME);
  }
});
check(frames.AuthenticatedSchema, (m, path, fail) => {
  if (m.isPrimary !== (m.deviceId === PRIMARY_DEVICE_ID))
    fail(`${path}.is_primary`, 'must be true iff device_id is 1');
});
check(bus.RegistryDeviceSchema, (m, path, fail) => {
  if (m.isPrimary !== (m.address?.deviceId === PRIMARY_DEVICE_ID))
    fail(`${path}.is_primary`, 'must be true iff address.device_id is 1');
});
check(frames.MismatchedDevicesSchema, (m, path, fail) => {
  if (m.missing.length === 0 && m.extra.length === 0) fail(path, 'missing or extra must be non-empty');
});
check(frames.DeliverSchema, (m, path, fail) => {
  if (m.content.case === 'envelope') {
    if (m.sender === undefined) fail(`${path}.sender`, 'is required with an envelope');
    if (m.clientMessageId === '') fail(`${path}.client_message_id`, 'is required with an envelope');
  } else if (m.content.case === 'receipt') {
    if (m.sender !== undefined) fail(`${path}.sender`, 'must be unset with a receipt');
    if (m.clientMessageId !== '') fail(`${path}.client_message_id`, 'must be empty with a receipt');
  }
  if (m.expiresAtMs < m.serverTimestampMs)
    fail(`${path}.expires_at_ms`, 'must not be before server_timestamp_ms');
});
check(frames.PrekeyUploadSchema, (m, path, fail) => {
  if (
    m.signedPrekey === undefined &&
    m.oneTimePrekeys.length === 0 &&
    m.pqPrekeys.length === 0 &&
    m.pqLastResortPrekey === undefined
  ) {
    fail(path, 'must carry at least one prekey');
  }
});
check(frames.DeviceListSchema, (m, path, fail) => {
  const first = m.devices[0];
  if (first !== undefined && first.deviceId !== PRIMARY_DEVICE_ID)
    fail(`${path}.devices[0].device_id`, 'the primary (1) must come first');
  if (first !== undefined && !bytesEqual(first.identityKey, m.primaryIdentityKey))
    fail(`${path}.devices[0].identity_key`, 'must equal primary_identity_key');
  m.devices.forEach((d, i) => {
    if (d.deviceId !== PRIMARY_DEVICE_ID && d.identity?.deviceSignature.length !== SIGNATURE_BYTES)
      fail(`${path}.devices[${i}].identity.device_signature`, 'a companion needs the counter-signature');
  });
  if (m.nextDeviceId === PRIMARY_DEVICE_ID) fail(`${path}.next_device_id`, 'must be 0 or >= 2');
});
check(frames.DeviceInfoSchema, (m, path, fail) => {
  if ((m.deviceId === PRIMARY_DEVICE_ID) !== (m.identity === undefined))
    fail(`${path}.identity`, 'must be absent for the primary and present for a companion');
});
check(frames.LinkApproveSchema, (m, path, fail) => {
  if (m.deviceIdentity !== undefined && m.deviceIdentity.deviceSignature.length !== 0)
    fail(`${path}.device_identity.device_signature`, 'must be empty (the companion counter-signs later)');
});
check(frames.LinkCompleteSchema, (m, path, fail) => {
  if (m.deviceIdentity !== undefined && m.deviceIdentity.deviceSignature.length !== SIGNATURE_BYTES)
    fail(`${path}.device_identity.device_signature`, `must be ${SIGNATURE_BYTES} bytes`);
});
check(frames.HistoryUploadSchema, (m, path, fail) => {
  if ((m.blobId === '') !== (m.chunkIndex === 0))
    fail(`${path}.blob_id`, 'must be empty exactly for chunk 0');
  checkChunk(m, path, fail);
});
check(frames.HistoryChunkSchema, (m, path, fail) => checkChunk(m, path, fail));
check(bus.DeliveryPageSchema, (m, path, fail) => {
  let total = 0;
  m.items.forEach((item, i) => {
    const prev = m.items[i - 1];
    if (prev !== undefined && item.seq <= prev.seq) fail(`${path}.items[${i}].seq`, 'must increase');
    if (item.content.case === 'envelope') total += item.content.value.ciphertext.length;
  });
  if (m.items.length > 1 && total > MAX_PAGE_BYTES)
    fail(`${path}.items`, `more than ${MAX_PAGE_BYTES} ciphertext bytes in a page of several copies`);
});

function checkChunk(
  m: { chunkIndex: number; totalChunks: number; totalSize: bigint; data: Uint8Array },
  path: string,
  fail: Fail,
): void {
  const chunk = BigInt(MAX_HISTORY_CHUNK_BYTES);
  const expectedChunks = (m.totalSize + chunk - 1n) / chunk;
  if (BigInt(m.totalChunks) !== expectedChunks)
    fail(`${path}.total_chunks`, `must be ceil(total_size / ${MAX_HISTORY_CHUNK_BYTES}) = ${expectedChunks}`);
  if (m.chunkIndex >= m.totalChunks) fail(`${path}.chunk_index`, 'must be < total_chunks');
  const expectedLength =
    m.chunkIndex === m.totalChunks - 1 ? m.totalSize - BigInt(m.chunkIndex) * chunk : chunk;
  if (BigInt(m.data.length) !== expectedLength) fail(`${path}.data`, `must be ${expectedLength} bytes`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The walker

/**
 * Checks every field of `msg` (recursively) against the rules of its type and throws a
 * ProtocolError naming the first violation. `path` is the path prefix used in messages
 * (default: the message's short type name).
 */
export function validateMessage<T extends Message>(
  schema: GenMessage<T>,
  msg: T,
  path: string = schema.name,
): void {
  try {
    walk(schema, msg, path);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(ErrorCode.BAD_FRAME, path, 'malformed message', { cause: error });
  }
}

function walk(desc: DescMessage, msg: unknown, path: string): void {
  if (typeof msg !== 'object' || msg === null) fail(path, 'must be a message');
  const record = msg as Record<string, unknown>;
  if (record.$typeName !== undefined && record.$typeName !== desc.typeName)
    fail(path, `must be a ${desc.typeName}, not ${String(record.$typeName)}`);
  const table = RULES[desc.typeName];
  if (table === undefined) fail(path, `no validation rules for ${desc.typeName}`, ErrorCode.INTERNAL);
  for (const field of desc.fields) {
    if (field.oneof !== undefined) continue;
    const fieldPath = `${path}.${field.name}`;
    checkField(field, ruleFor(table, field.name, fieldPath), record[field.localName], fieldPath);
  }
  for (const oneof of desc.oneofs) {
    const rule = ruleFor(table, oneof.name, `${path}.${oneof.name}`);
    if (rule.t !== 'oneof') fail(`${path}.${oneof.name}`, 'rule is not a oneof rule', ErrorCode.INTERNAL);
    const selected = record[oneof.localName] as { case?: unknown; value?: unknown } | undefined;
    if (selected === undefined || selected.case === undefined) {
      if (rule.required) fail(`${path}.${oneof.name}`, 'must be set', rule.code);
      continue;
    }
    const field = oneof.fields.find((f) => f.localName === selected.case);
    if (field === undefined)
      fail(`${path}.${oneof.name}`, `unknown case ${String(selected.case)}`, rule.code);
    // Every oneof member of this schema is a message: presence is implied by the case.
    checkField(field, required, selected.value, `${path}.${field.name}`);
  }
  const extra = CHECKS.get(desc.typeName);
  if (extra !== undefined) extra(msg as never, path, fail);
}

const bad = (path: string, reason: string, code = ErrorCode.INVALID_ARGUMENT): ProtocolError =>
  new ProtocolError(code, path, reason);

function ruleFor(table: Readonly<Record<string, FieldRule>>, name: string, path: string): FieldRule {
  const rule = table[name];
  if (rule === undefined) return fail(path, 'no validation rule', ErrorCode.INTERNAL);
  return rule;
}

function checkField(field: DescField, rule: FieldRule, value: unknown, path: string): void {
  switch (field.fieldKind) {
    case 'scalar':
      checkScalar(field.scalar, rule, value, path);
      return;
    case 'enum':
      checkEnum(field.enum, rule, value, path);
      return;
    case 'message':
      if (rule.t !== 'msg') throw bad(path, 'rule is not a message rule', ErrorCode.INTERNAL);
      if (value === undefined) {
        if (rule.required) fail(path, 'is required');
        return;
      }
      walk(field.message, value, path);
      return;
    case 'list': {
      if (rule.t !== 'list') throw bad(path, 'rule is not a list rule', ErrorCode.INTERNAL);
      if (!Array.isArray(value)) throw bad(path, 'must be a list');
      if (value.length < rule.min || value.length > rule.max)
        fail(path, `must have ${rule.min}..${rule.max} items, has ${value.length}`);
      const seen = rule.unique === undefined ? undefined : new Set<string>();
      value.forEach((item: unknown, i) => {
        const itemPath = `${path}[${i}]`;
        if (field.listKind === 'message') walk(field.message, item, itemPath);
        else if (field.listKind === 'enum') checkEnum(field.enum, rule.item ?? enumKnown, item, itemPath);
        else
          checkScalar(
            field.scalar,
            rule.item ?? fail(path, 'no item rule', ErrorCode.INTERNAL),
            item,
            itemPath,
          );
        if (seen !== undefined && rule.unique !== undefined) {
          const k = rule.unique(item);
          if (seen.has(k)) fail(itemPath, `duplicate ${rule.uniqueWhat ?? 'item'}`);
          seen.add(k);
        }
      });
      return;
    }
    default:
      throw bad(path, 'maps are not used in this protocol', ErrorCode.INTERNAL);
  }
}

const enumNumbers = new WeakMap<DescEnum, ReadonlySet<number>>();
function checkEnum(desc: DescEnum, rule: FieldRule, value: unknown, path: string): void {
  if (rule.t !== 'enum') throw bad(path, 'rule is not an enum rule', ErrorCode.INTERNAL);
  if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(path, 'must be an enum value');
  let known = enumNumbers.get(desc);
  if (known === undefined) {
    known = new Set(desc.values.map((v) => v.number));
    enumNumbers.set(desc, known);
  }
  if (!known.has(value)) fail(path, `unknown ${desc.name} value ${value}`);
  if (value === 0 && !rule.unspecified) fail(path, `must not be ${desc.values[0]?.name ?? 'UNSPECIFIED'}`);
}

const CONTROL_CHARS = /\p{Cc}/u;
function checkScalar(scalar: ScalarType, rule: FieldRule, value: unknown, path: string): void {
  switch (rule.t) {
    case 'str':
      if (scalar !== ScalarType.STRING || typeof value !== 'string') throw bad(path, 'must be a string');
      if (value === '' && rule.optional) return;
      if (!rule.re.test(value)) fail(path, `must be ${rule.what}${rule.optional ? ' or empty' : ''}`);
      return;
    case 'text': {
      if (scalar !== ScalarType.STRING || typeof value !== 'string') throw bad(path, 'must be a string');
      let n = 0;
      for (const _ of value) n++;
      if (n < rule.min || n > rule.max) fail(path, `must have ${rule.min}..${rule.max} characters, has ${n}`);
      if (CONTROL_CHARS.test(value)) fail(path, 'must not contain control characters');
      return;
    }
    case 'bytes':
      if (scalar !== ScalarType.BYTES || !(value instanceof Uint8Array)) throw bad(path, 'must be bytes');
      if (value.length < rule.min || value.length > rule.max) {
        const expected = rule.min === rule.max ? `${rule.min}` : `${rule.min}..${rule.max}`;
        fail(
          path,
          `must be ${expected} bytes, is ${value.length}`,
          rule.key ? ErrorCode.INVALID_KEY : ErrorCode.INVALID_ARGUMENT,
        );
      }
      return;
    case 'bytesOneOf':
      if (scalar !== ScalarType.BYTES || !(value instanceof Uint8Array)) throw bad(path, 'must be bytes');
      if (!rule.lengths.includes(value.length))
        fail(path, `must be ${rule.lengths.join(' or ')} bytes, is ${value.length}`);
      return;
    case 'u32':
      if (scalar !== ScalarType.UINT32 || typeof value !== 'number' || !Number.isInteger(value))
        throw bad(path, 'must be an integer');
      if (value < rule.min || value > rule.max)
        fail(path, `must be in ${rule.min}..${rule.max}, is ${value}`);
      return;
    case 'u64':
      if (scalar !== ScalarType.UINT64 || typeof value !== 'bigint') throw bad(path, 'must be a bigint');
      if (value < rule.min || value > rule.max)
        fail(path, `must be in ${rule.min}..${rule.max}, is ${value}`);
      return;
    case 'bool':
      if (scalar !== ScalarType.BOOL || typeof value !== 'boolean') fail(path, 'must be a boolean');
      return;
    default:
      fail(path, `rule ${rule.t} does not fit a scalar field`, ErrorCode.INTERNAL);
  }
}

/** Every message descriptor of the tandem.v1 package (for tests and tooling). */
export const ALL_MESSAGE_SCHEMAS: readonly DescMessage[] = [
  ...common.file_tandem_v1_common.messages,
  ...content.file_tandem_v1_content.messages,
  ...frames.file_tandem_v1_frames.messages,
  ...bus.file_tandem_v1_bus.messages,
];
