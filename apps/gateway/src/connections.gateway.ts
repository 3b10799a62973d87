import type { IncomingMessage } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { MAX_FRAME_BYTES, WEBSOCKET_SUBPROTOCOL } from '@tandem/proto';
import type { RawData, WebSocket } from 'ws';
import type { GatewayConfig } from './config.js';
import { WsSocket } from './connection/socket.js';
import type { GatewayCore } from './core.js';
import { ipKey } from './limits/ip-key.js';
import { GATEWAY_CONFIG, GATEWAY_CORE } from './tokens.js';

/** Where devices connect; the protocol version is part of the path. */
export const WS_PATH = '/v1/ws';

/**
 * Largest WebSocket message the ws layer buffers. Frames up to MAX_FRAME_BYTES are decoded;
 * frames a little larger reach the decoder and are answered FRAME_TOO_LARGE and closed 4413; the
 * ws layer itself closes anything larger than this with 1009 before buffering it.
 */
export const WS_MAX_PAYLOAD = MAX_FRAME_BYTES + 64 * 1024;

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/**
 * Picks tandem.v1 when offered. A client offering only other versions gets one of its own offers
 * echoed so the handshake completes and it can read the documented close (UNSUPPORTED_VERSION
 * error, then 4426) instead of a bare handshake failure; no frame of that protocol is ever sent.
 */
function selectProtocol(offered: Set<string>): string | false {
  if (offered.has(WEBSOCKET_SUBPROTOCOL)) return WEBSOCKET_SUBPROTOCOL;
  const first = offered.values().next();
  return first.done ? false : first.value;
}

/**
 * The device socket endpoint: decorates and delegates. Every socket gets its own state machine in
 * SessionService (unauthenticated → authenticated device, or → linking companion); this class only
 * connects the socket's events to it.
 */
@Injectable()
@WebSocketGateway({
  path: WS_PATH,
  maxPayload: WS_MAX_PAYLOAD,
  perMessageDeflate: false,
  handleProtocols: selectProtocol,
})
export class ConnectionsGateway implements OnGatewayConnection {
  constructor(
    @Inject(GATEWAY_CORE) private readonly core: GatewayCore,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  get connectionCount(): number {
    return this.core.connections.size;
  }

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    const session = this.core.session;
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    const conn = session.open(new WsSocket(ws), this.clientIp(req), offered);
    if (!conn) return;
    ws.on('message', (data, isBinary) => session.message(conn, toBytes(data), isBinary));
    ws.on('pong', () => session.touched(conn));
    ws.once('close', (code) => session.closed(conn, code));
  }

  private clientIp(req: IncomingMessage): string {
    if (this.config.TRUST_PROXY) {
      const forwarded = req.headers['x-forwarded-for'];
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
      if (first) return ipKey(first);
    }
    return ipKey(req.socket.remoteAddress ?? 'unknown');
  }
}
