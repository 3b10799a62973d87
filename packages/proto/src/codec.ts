import { fromBinary, type Message, toBinary } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { ProtocolError } from './errors.js';
import { ErrorCode } from './gen/tandem/v1/common_pb.js';
import {
  type Content,
  ContentSchema,
  type LinkingPayload,
  LinkingPayloadSchema,
} from './gen/tandem/v1/content_pb.js';
import {
  type ClientFrame,
  ClientFrameSchema,
  type ServerFrame,
  ServerFrameSchema,
} from './gen/tandem/v1/frames_pb.js';
import { MAX_CONTENT_BYTES, MAX_FRAME_BYTES, MAX_LINKING_PAYLOAD_BYTES } from './limits.js';
import { validateMessage } from './validate.js';

/** Byte limit of a decode or encode, and the error code used when it is exceeded. */
export interface SizeLimit {
  readonly maxBytes: number;
  readonly tooLargeCode: ErrorCode;
}

const FRAME_LIMIT: SizeLimit = { maxBytes: MAX_FRAME_BYTES, tooLargeCode: ErrorCode.FRAME_TOO_LARGE };

/**
 * Decodes and validates one message: checks the length against the limit before parsing,
 * parses without retaining unknown fields, then validates every field. Throws only
 * ProtocolError.
 */
export function decodeMessage<T extends Message>(
  schema: GenMessage<T>,
  bytes: Uint8Array,
  limit: SizeLimit,
): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, schema.name, 'input must be a Uint8Array');
  }
  if (bytes.byteLength > limit.maxBytes) {
    throw new ProtocolError(
      limit.tooLargeCode,
      schema.name,
      `${bytes.byteLength} bytes exceed the limit of ${limit.maxBytes}`,
    );
  }
  let msg: T;
  try {
    msg = fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (error) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, schema.name, 'cannot parse protobuf', { cause: error });
  }
  validateMessage(schema, msg);
  return msg;
}

/**
 * Validates and encodes one message; throws ProtocolError if a field breaks a rule or the encoded
 * message is over the limit.
 */
export function encodeMessage<T extends Message>(
  schema: GenMessage<T>,
  msg: T,
  limit: SizeLimit,
): Uint8Array {
  validateMessage(schema, msg);
  let bytes: Uint8Array;
  try {
    bytes = toBinary(schema, msg);
  } catch (error) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, schema.name, 'cannot encode protobuf', { cause: error });
  }
  if (bytes.byteLength > limit.maxBytes) {
    throw new ProtocolError(
      limit.tooLargeCode,
      schema.name,
      `${bytes.byteLength} bytes exceed the limit of ${limit.maxBytes}`,
    );
  }
  return bytes;
}

/** Decodes one device -> server WebSocket message (at most MAX_FRAME_BYTES). */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  return decodeMessage(ClientFrameSchema, bytes, FRAME_LIMIT);
}

/** Validates and encodes one device -> server frame. */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  return encodeMessage(ClientFrameSchema, frame, FRAME_LIMIT);
}

/** Decodes one server -> device WebSocket message (at most MAX_FRAME_BYTES). */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  return decodeMessage(ServerFrameSchema, bytes, FRAME_LIMIT);
}

/** Validates and encodes one server -> device frame. */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  return encodeMessage(ServerFrameSchema, frame, FRAME_LIMIT);
}

/** Throws ProtocolError unless the frame satisfies every rule (what encodeClientFrame checks). */
export function validateClientFrame(frame: ClientFrame): void {
  validateMessage(ClientFrameSchema, frame);
}

/** Throws ProtocolError unless the frame satisfies every rule (what encodeServerFrame checks). */
export function validateServerFrame(frame: ServerFrame): void {
  validateMessage(ServerFrameSchema, frame);
}

const CONTENT_LIMIT: SizeLimit = { maxBytes: MAX_CONTENT_BYTES, tooLargeCode: ErrorCode.PAYLOAD_TOO_LARGE };
const LINKING_LIMIT: SizeLimit = {
  maxBytes: MAX_LINKING_PAYLOAD_BYTES,
  tooLargeCode: ErrorCode.PAYLOAD_TOO_LARGE,
};

/** Decodes the plaintext of an envelope (device side, after decrypting). */
export function decodeContent(bytes: Uint8Array): Content {
  return decodeMessage(ContentSchema, bytes, CONTENT_LIMIT);
}

/** Validates and encodes the plaintext of an envelope (device side, before encrypting). */
export function encodeContent(content: Content): Uint8Array {
  return encodeMessage(ContentSchema, content, CONTENT_LIMIT);
}

/** Decodes an opened linking payload (companion side). */
export function decodeLinkingPayload(bytes: Uint8Array): LinkingPayload {
  return decodeMessage(LinkingPayloadSchema, bytes, LINKING_LIMIT);
}

/** Validates and encodes a linking payload before it is sealed (primary side). */
export function encodeLinkingPayload(payload: LinkingPayload): Uint8Array {
  return encodeMessage(LinkingPayloadSchema, payload, LINKING_LIMIT);
}
