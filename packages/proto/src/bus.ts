import { create, type Message } from '@bufbuild/protobuf';
import { decodeMessage, encodeMessage, type SizeLimit } from './codec.js';
import { type BusError, BusErrorSchema } from './gen/tandem/v1/bus_pb.js';
import { ErrorCode, type ErrorDetails } from './gen/tandem/v1/common_pb.js';
import { MAX_BUS_MESSAGE_BYTES } from './limits.js';
import type { PublishSubject, RequestSubject } from './subjects.js';

const BUS_LIMIT: SizeLimit = { maxBytes: MAX_BUS_MESSAGE_BYTES, tooLargeCode: ErrorCode.PAYLOAD_TOO_LARGE };

/** Shape shared by every bus response: `result` is `ok` (the operation's result) or `error`. */
export type BusReply = Message & {
  result:
    | { case: 'ok'; value: Message }
    | { case: 'error'; value: BusError }
    | { case: undefined; value?: undefined };
};

/** The `ok` message type of a response, e.g. ReplyOk<RegistryGetDeviceResponse> = RegistryDevice. */
export type ReplyOk<Res extends Message> = Res extends { result: infer U }
  ? Extract<U, { case: 'ok' }> extends { value: infer V }
    ? V
    : never
  : never;

/**
 * Validates and encodes the message published on a subject (a request, an event, an inbox or a
 * link message). The message type must be the subject's: a wrong one does not compile.
 */
export function encodeBus<M extends Message>(subject: PublishSubject<M>, msg: NoInfer<M>): Uint8Array {
  return encodeMessage(subject.schema, msg, BUS_LIMIT);
}

/** Decodes and validates the message published on a subject; throws only ProtocolError. */
export function decodeBus<M extends Message>(subject: PublishSubject<M>, bytes: Uint8Array): M {
  return decodeMessage(subject.schema, bytes, BUS_LIMIT);
}

/** Validates and encodes the reply to a request subject. */
export function encodeReply<Req extends Message, Res extends Message>(
  subject: RequestSubject<Req, Res>,
  msg: NoInfer<Res>,
): Uint8Array {
  return encodeMessage(subject.replySchema, msg, BUS_LIMIT);
}

/** Decodes and validates the reply to a request subject; throws only ProtocolError. */
export function decodeReply<Req extends Message, Res extends Message>(
  subject: RequestSubject<Req, Res>,
  bytes: Uint8Array,
): Res {
  return decodeMessage(subject.replySchema, bytes, BUS_LIMIT);
}

/** Builds the success reply of a request subject. */
export function replyOk<Req extends Message, Res extends Message>(
  subject: RequestSubject<Req, Res>,
  ok: NoInfer<ReplyOk<Res>>,
): Res {
  return create(subject.replySchema, { result: { case: 'ok', value: ok } } as never);
}

/** Builds the error reply of a request subject. */
export function replyError<Req extends Message, Res extends Message>(
  subject: RequestSubject<Req, Res>,
  code: ErrorCode,
  message: string,
  options: { retryAfterMs?: number; details?: ErrorDetails } = {},
): Res {
  const error: BusError = create(BusErrorSchema, {
    code,
    message,
    retryAfterMs: options.retryAfterMs ?? 0,
    details: options.details,
  });
  return create(subject.replySchema, { result: { case: 'error', value: error } } as never);
}

/**
 * The one thing a service needs from its NATS client to call another service. With
 * @nats-io/nats-core: `{ request: (s, d, o) => nc.request(s, d, { timeout: o.timeoutMs }).then((m) => m.data) }`.
 */
export interface BusRequester {
  request(subject: string, payload: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>;
}

/**
 * Sends a typed request and decodes the typed reply. Transport failures (timeout, no responders)
 * reject with whatever the requester throws; a malformed reply rejects with ProtocolError.
 */
export async function requestBus<Req extends Message, Res extends Message>(
  requester: BusRequester,
  subject: RequestSubject<Req, Res>,
  msg: NoInfer<Req>,
  options: { timeoutMs: number },
): Promise<Res> {
  const reply = await requester.request(subject.subject, encodeBus(subject, msg), options);
  return decodeReply(subject, reply);
}
