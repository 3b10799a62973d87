import type { Message } from '@bufbuild/protobuf';
import { type BusReply, type ReplyOk, type RequestSubject, requestBus } from '@tandem/proto';
import { GatewayError } from '../errors.js';
import type { Bus } from './bus.js';

/**
 * One typed request to a service: encodes and validates the request, waits for the reply, and
 * returns its `ok` value; a BusError reply becomes a GatewayError with the same code (so the
 * device sees the service's code), a malformed reply a ProtocolError, a transport failure a
 * BusUnavailableError.
 */
export async function call<Req extends Message, Res extends BusReply>(
  bus: Bus,
  subject: RequestSubject<Req, Res>,
  msg: NoInfer<Req>,
  timeoutMs: number,
): Promise<ReplyOk<Res>> {
  const reply = await requestBus(bus, subject, msg, { timeoutMs });
  const result = reply.result;
  if (result.case === 'ok') return result.value as ReplyOk<Res>;
  if (result.case === 'error') {
    const e = result.value;
    throw new GatewayError(e.code, e.message, e.retryAfterMs, e.details);
  }
  throw new Error(`empty reply on ${subject.subject}`);
}
