/**
 * WebSocket close codes the gateway uses. 1000-1015 are RFC 6455 codes; 4000-4999 are
 * application codes (the last three digits follow the matching HTTP status where one exists,
 * 4409 is Signal's "displaced" code). When the server closes for a reason that has an ErrorCode,
 * it first pushes ServerFrame.error (request_id 0) with that code.
 */
export const CloseCode = {
  /** 1000: normal closure (client logged out; a linking socket after link_completed's hand-off or link_cancelled). */
  NORMAL: 1000,
  // 1009 (RFC 6455 "message too big") is not used: an oversized frame gets 4413.
  /** 1012: the gateway is shutting down or restarting (after a going_away push); reconnect to any gateway after a jittered delay. */
  SERVICE_RESTART: 1012,
  /** 4001: authentication failed (bad signature, stale timestamp, unknown device); do not retry with the same credentials. */
  AUTH_FAILED: 4001,
  /** 4003: the device was unlinked (revoked); never reconnect with this identity. */
  DEVICE_REVOKED: 4003,
  /** 4004: no frame or pong from the device within the heartbeat timeout; reconnect. */
  HEARTBEAT_TIMEOUT: 4004,
  /** 4008: no authenticate, register or link frame within the authentication timeout; reconnect. */
  AUTH_TIMEOUT: 4008,
  /** 4009: protocol violation (too many bad frames, a text frame, a frame in the wrong state); fix the client. */
  PROTOCOL_VIOLATION: 4009,
  /** 4029: rate limit exceeded hard (kept sending after RATE_LIMITED errors); reconnect after a backoff. */
  RATE_LIMITED: 4029,
  /** 4409: displaced by a newer connection of the same device (Signal's code); do not reconnect automatically. */
  DISPLACED: 4409,
  /** 4410: slow reader, the server's send buffer for this socket overflowed; reconnect (the queue is drained again). */
  SLOW_READER: 4410,
  /** 4413: a frame was larger than MAX_FRAME_BYTES; fix the client. */
  FRAME_TOO_LARGE: 4413,
  /** 4426: the client offered no supported protocol version (WebSocket subprotocol); upgrade the client. */
  UNSUPPORTED_VERSION: 4426,
  /** 4500: internal server error; reconnect with backoff. */
  INTERNAL: 4500,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What a client should do after a close code. */
export type ReconnectPolicy = 'reconnect' | 'backoff' | 'never';

/** Reconnect policy per close code (docs/protocol.md has the same table). */
export const CLOSE_CODE_RECONNECT: Readonly<Record<CloseCode, ReconnectPolicy>> = {
  [CloseCode.NORMAL]: 'never',
  [CloseCode.SERVICE_RESTART]: 'reconnect',
  [CloseCode.AUTH_FAILED]: 'never',
  [CloseCode.DEVICE_REVOKED]: 'never',
  [CloseCode.HEARTBEAT_TIMEOUT]: 'reconnect',
  [CloseCode.AUTH_TIMEOUT]: 'reconnect',
  [CloseCode.PROTOCOL_VIOLATION]: 'never',
  [CloseCode.RATE_LIMITED]: 'backoff',
  [CloseCode.DISPLACED]: 'never',
  [CloseCode.SLOW_READER]: 'reconnect',
  [CloseCode.FRAME_TOO_LARGE]: 'never',
  [CloseCode.UNSUPPORTED_VERSION]: 'never',
  [CloseCode.INTERNAL]: 'backoff',
};
