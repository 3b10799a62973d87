import { Inject, Injectable } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import type { Logger } from '@tandem/service-kit';
import type { WebSocket } from 'ws';
import { LOGGER } from './tokens.js';

/** Where devices connect; the protocol version is part of the path. */
export const WS_PATH = '/v1/ws';

/**
 * The device socket endpoint. Each connection runs its own state machine
 * (unauthenticated → authenticated device, or → linking companion).
 */
@Injectable()
@WebSocketGateway({ path: WS_PATH })
export class ConnectionsGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly sockets = new Set<WebSocket>();

  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  get connectionCount(): number {
    return this.sockets.size;
  }

  handleConnection(socket: WebSocket): void {
    this.sockets.add(socket);
    this.logger.debug({ connections: this.sockets.size }, 'socket opened');
  }

  handleDisconnect(socket: WebSocket): void {
    this.sockets.delete(socket);
  }

  /** Closes every socket with the given code (used by graceful shutdown). */
  closeAll(code: number, reason: string): void {
    for (const s of this.sockets) s.close(code, reason);
  }
}
