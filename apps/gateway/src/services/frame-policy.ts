/**
 * Which client frames a socket may send in each of its states (docs/protocol.md, "Socket
 * states"), as one pure function: the gateway asks it before any handler runs, and
 * test/unit/frame-policy.test.ts states the whole table.
 */
import {
  type ClientFrameCase,
  ErrorCode,
  PRIMARY_ONLY_CLIENT_CASES,
  UNAUTHENTICATED_CLIENT_CASES,
} from '@tandem/proto';
import type { ConnectionState } from '../connection/connection.js';

/** Cases refused on a socket that already is a device. */
const NOT_WHEN_AUTHENTICATED = new Set<ClientFrameCase>([
  'authenticate',
  'registerRequestCode',
  'registerVerify',
  'linkStart',
  'linkComplete',
]);
/** Cases a companion's linking socket may send while it waits. */
const LINKING_CASES = new Set<ClientFrameCase>(['ping', 'linkComplete', 'linkCancel']);

export interface FrameRefusal {
  code: ErrorCode;
  message: string;
}

/** undefined when a socket in `state` may send a `kind` frame; else the error to answer. */
export function refuseFrame(state: ConnectionState, kind: ClientFrameCase): FrameRefusal | undefined {
  switch (state.kind) {
    case 'closed':
      return { code: ErrorCode.FORBIDDEN, message: 'socket is closing' };
    case 'authenticated':
      if (NOT_WHEN_AUTHENTICATED.has(kind))
        return { code: ErrorCode.FORBIDDEN, message: 'socket is already authenticated' };
      if (PRIMARY_ONLY_CLIENT_CASES.has(kind) && !state.device.isPrimary) {
        return { code: ErrorCode.NOT_PRIMARY, message: 'only the primary device may do this' };
      }
      return undefined;
    case 'linking':
      if (!LINKING_CASES.has(kind))
        return { code: ErrorCode.FORBIDDEN, message: 'socket is waiting for a link' };
      return undefined;
    case 'authenticating':
      // The socket is not authenticated yet; the client waits for the answer to its
      // authenticate and sends again.
      if (kind === 'ping') return undefined;
      return {
        code: ErrorCode.UNAUTHENTICATED,
        message: 'authentication in progress: wait for the answer to authenticate, then send again',
      };
    case 'unauthenticated':
      if (!UNAUTHENTICATED_CLIENT_CASES.has(kind))
        return { code: ErrorCode.UNAUTHENTICATED, message: 'authenticate first' };
      if (kind === 'linkComplete' || kind === 'linkCancel') {
        return { code: ErrorCode.FORBIDDEN, message: 'no pending link on this socket' };
      }
      return undefined;
  }
}
