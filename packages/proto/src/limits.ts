/**
 * Every size, count and format limit of the Tandem protocol, in one place. The validators in
 * validate.ts enforce them on decode and on encode; docs/protocol.md quotes them.
 */

/** Protocol version carried in Challenge.protocol_version and in the WebSocket subprotocol. */
export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol a client offers (Sec-WebSocket-Protocol). */
export const WEBSOCKET_SUBPROTOCOL = `tandem.v${PROTOCOL_VERSION}`;

// ---------------------------------------------------------------------------------------------
// Key and signature lengths

/** Ed25519 identity public key. */
export const IDENTITY_KEY_BYTES = 32;
/** Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** X25519 public key: signed prekey, one-time prekey, link ephemeral key. */
export const X25519_PUBLIC_KEY_BYTES = 32;
/** ML-KEM-768 encapsulation (public) key. */
export const MLKEM768_PUBLIC_KEY_BYTES = 1184;
/** ML-KEM-768 ciphertext (inside PREKEY_MESSAGE envelopes; not a proto field of its own). */
export const MLKEM768_CIPHERTEXT_BYTES = 1088;
/** Challenge.nonce. */
export const CHALLENGE_NONCE_BYTES = 32;

// ---------------------------------------------------------------------------------------------
// Sizes

/** Largest binary WebSocket message (one ClientFrame or ServerFrame), 1 MiB. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/**
 * Largest NATS payload (any bus request, reply, event, inbox or link message), 1 MiB = the NATS
 * server's default max_payload. Every bus message is built from at most one frame's worth of
 * validated content plus a few addresses, so it always fits.
 */
export const MAX_BUS_MESSAGE_BYTES = 1024 * 1024;
/** Largest ciphertext of one copy (OutgoingCopy, Envelope, DeliveryCopy), 64 KiB. */
export const MAX_CIPHERTEXT_BYTES = 64 * 1024;
/**
 * Copies in one send: a recipient account has at most MAX_DEVICES_PER_ACCOUNT (5) devices and
 * the sender has at most 4 other devices, so a correct send has at most 9 copies. One more is
 * allowed so that a client whose cached device list still holds one removed device gets the
 * precise `mismatched_devices.extra` answer instead of a BAD_FRAME. 10 x 64 KiB (+ overhead) also
 * stays well under MAX_FRAME_BYTES and MAX_BUS_MESSAGE_BYTES.
 */
export const MAX_COPIES_PER_SEND = 10;

/**
 * RetryRequest.attempt: a device asks for a message again at most this many times (the last of
 * them with `final` set) before it tells its application the message could not be decrypted.
 */
export const MAX_RETRY_ATTEMPTS = 4;
/** server_ids in one ack. */
export const MAX_ACK_BATCH = 256;
/** Copies in one delivery.fetch_page reply (the request's `limit` is 1..MAX_PAGE_SIZE). */
export const MAX_PAGE_SIZE = 256;
/**
 * Ciphertext bytes in one delivery.fetch_page reply (delivery stops filling a page at this
 * budget, but always returns at least one queued copy), 512 KiB, so a page fits a bus message.
 */
export const MAX_PAGE_BYTES = 512 * 1024;
/** One-time X25519 prekeys in one upload (register_verify, prekey_upload, link_complete). */
export const MAX_ONE_TIME_PREKEYS_PER_UPLOAD = 100;
/** One-time ML-KEM prekeys in one upload (100 x ~1.25 KiB = 125 KiB). */
export const MAX_PQ_PREKEYS_PER_UPLOAD = 100;
/** Server pushes prekeys_low when a one-time pool holds fewer than this many keys. */
export const PREKEYS_LOW_THRESHOLD = 10;
/** Data bytes of one history chunk (every chunk but the last is exactly this long), 256 KiB. */
export const MAX_HISTORY_CHUNK_BYTES = 256 * 1024;
/** Total size of one history blob, 64 MiB. */
export const MAX_HISTORY_BLOB_BYTES = 64 * 1024 * 1024;
/** Chunks of the largest history blob (256). */
export const MAX_HISTORY_CHUNKS = MAX_HISTORY_BLOB_BYTES / MAX_HISTORY_CHUNK_BYTES;
/** Companion devices per account. */
export const MAX_COMPANIONS = 4;
/** Devices per account: the primary plus MAX_COMPANIONS. */
export const MAX_DEVICES_PER_ACCOUNT = 1 + MAX_COMPANIONS;
/** Device name, in Unicode code points (no control characters). */
export const MAX_DEVICE_NAME = 64;
/** DeviceIdentity.details (packages/crypto's canonical encoding). */
export const MAX_DETAILS_BYTES = 256;
/** SignedDeviceList.list (packages/crypto's canonical encoding). */
export const MAX_DEVICE_LIST_BYTES = 2048;
/** LinkApprove.sealed_payload / LinkPayload.sealed_payload. */
export const MAX_SEALED_PAYLOAD_BYTES = 16 * 1024;
/** ServerError.message / BusError.message, in code points. */
export const MAX_ERROR_MESSAGE_CHARS = 512;
/** Challenge.realm. */
export const MAX_REALM_CHARS = 128;
/** Accounts in one registry.get_device_lists request. */
export const MAX_DEVICE_LISTS_PER_REQUEST = 16;
/** Addresses in one registry.touch request. */
export const MAX_TOUCH_BATCH = 1000;
/** Devices in one delivery.stale_copies request. */
export const MAX_STALE_CHECK_DEVICES = 256;
/** Copies listed per device in a delivery.stale_copies reply (the request's `limit` is 1..this). */
export const MAX_STALE_COPIES_PER_DEVICE = 16;
/** Upper bound of delivery.stale_copies' `min_age_ms` (one day). */
export const MAX_STALE_AGE_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Identifiers

/** The primary device's id; companions get 2, 3, ... (never reused within an account). */
export const PRIMARY_DEVICE_ID = 1;
/** Largest device id, registration id and prekey id (uint32). */
export const MAX_UINT32 = 0xffff_ffff;
/** Largest value of any uint64 field (timestamps, seq, sizes), so that Number(x) is exact. */
export const MAX_UINT64_VALUE = BigInt(Number.MAX_SAFE_INTEGER);

/** account_id, server_id, link_id, blob_id: a lowercase UUID (any version), 36 characters. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** client_message_id: 1..64 of [A-Za-z0-9_-]. */
export const CLIENT_MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Account handle, 3..64 characters: either an E.164 phone number ('+' then 7..15 digits, no
 * leading zero) or a username (a lowercase letter, then 2..63 of lowercase letters, digits, '_'
 * and '.'). Clients normalise (lowercase, strip spaces) before sending.
 */
export const HANDLE_PATTERN = /^(?:\+[1-9][0-9]{6,14}|[a-z][a-z0-9_.]{2,63})$/;
/** Verification code: exactly 6 ASCII digits. */
export const VERIFICATION_CODE_PATTERN = /^[0-9]{6}$/;
/** Challenge.realm: 1..128 of [A-Za-z0-9._:-] (a host name, optionally with a port). */
export const REALM_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** InboxDisplace.connection_id: 1..64 of [A-Za-z0-9_-]. */
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** NATS subject prefix: dot-separated tokens of [A-Za-z0-9_-] (same rule as service-kit). */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Characters of DataMessage.text (end-to-end content). */
export const MAX_TEXT_CHARS = 16 * 1024;
/**
 * Bytes of an encoded Content: what fits in MAX_CIPHERTEXT_BYTES after the envelope's overhead
 * (a prekey message's PQXDH header is under 1.5 KiB; the ratchet adds 80 bytes).
 */
export const MAX_CONTENT_BYTES = MAX_CIPHERTEXT_BYTES - 4 * 1024;
/** Bytes of DataMessage.data. */
export const MAX_CONTENT_DATA_BYTES = MAX_CONTENT_BYTES - 1024;
/** Bytes of an encoded LinkingPayload (sealed into at most MAX_SEALED_PAYLOAD_BYTES). */
export const MAX_LINKING_PAYLOAD_BYTES = 1024;
