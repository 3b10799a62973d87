import {
  create,
  ErrorCode,
  encodeServerFrame,
  errorCodeName,
  ServerErrorSchema,
  type ServerFrame,
  ServerFrameSchema,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import type { WireError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';

import type { Connection } from './connection.js';

export type ServerBody = ServerFrame['body'];

/**
 * Encodes server frames (proto validates them on encode) and queues them on a connection through
 * its bounded send path, counting frames and errors. Logs carry frame types and ids only, never
 * payload bytes.
 */
export class Outbound {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  /** A push (request_id 0). */
  push(conn: Connection, body: ServerBody): boolean {
    return this.write(conn, 0, body);
  }

  reply(conn: Connection, requestId: number, body: ServerBody): boolean {
    return this.write(conn, requestId, body);
  }

  error(conn: Connection, requestId: number, err: WireError): boolean {
    this.metrics.errors.inc({ code: errorCodeName(err.code) });
    return this.write(conn, requestId, {
      case: 'error',
      value: create(ServerErrorSchema, {
        code: err.code,
        message: err.message.slice(0, 500),
        retryAfterMs: Math.min(Math.max(0, Math.ceil(err.retryAfterMs)), 0xffff_ffff),
        details: err.details,
      }),
    });
  }

  /** Encodes a frame; exposed for the fast path that sends one encoded frame to many sockets. */
  encode(requestId: number, body: ServerBody): Uint8Array {
    return encodeServerFrame(create(ServerFrameSchema, { requestId, body }));
  }

  /** Sends already encoded bytes of a frame of type `type`. */
  sendEncoded(conn: Connection, type: string, bytes: Uint8Array): boolean {
    const ok = conn.send(bytes);
    if (ok) this.metrics.framesOut.inc({ type });
    return ok;
  }

  private write(conn: Connection, requestId: number, body: ServerBody): boolean {
    if (conn.isClosed) return false;
    let bytes: Uint8Array;
    try {
      bytes = this.encode(requestId, body);
    } catch (err) {
      // A reply built from a service's answer failed proto's rules: the device gets INTERNAL.
      this.logger.error({ err, frame: body.case, conn: conn.id }, 'cannot encode server frame');
      if (body.case === 'error') return false;
      return this.write(conn, requestId, {
        case: 'error',
        value: create(ServerErrorSchema, { code: ErrorCode.INTERNAL, message: 'internal error' }),
      });
    }
    return this.sendEncoded(conn, body.case ?? 'unknown', bytes);
  }
}
