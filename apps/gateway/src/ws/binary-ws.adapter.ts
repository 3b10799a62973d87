import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';

/**
 * The ws adapter without Nest's message pipeline. Nest's WsAdapter JSON-parses every message and
 * routes it by `{event, data}` to @SubscribeMessage handlers (and JSON-stringifies replies).
 * Tandem frames are binary protobuf with request ids, so the gateway attaches its own 'message'
 * listener per socket (ConnectionsGateway.handleConnection) and this adapter binds no message
 * handlers at all: no per-frame JSON.parse attempt, no rxjs pipeline, nothing that could answer
 * a frame in a shape the protocol does not have. Connection, disconnect, path routing on the
 * shared HTTP server and server options (maxPayload, handleProtocols) stay Nest's.
 */
export class BinaryWsAdapter extends WsAdapter {
  override bindMessageHandlers(
    _client: unknown,
    _handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    // Intentionally empty: see the class comment.
  }
}
