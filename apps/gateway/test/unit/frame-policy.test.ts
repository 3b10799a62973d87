// Which frames each socket state may send: the whole table, state by state. A new ClientFrame
// case must be added here (the table is typed over every case) and to the gateway's handler map
// (a missing handler is a compile error in session.service.ts).
import { describe, expect, it } from '@jest/globals';
import { CLIENT_FRAME_RESPONSES, type ClientFrameCase, ErrorCode } from '@tandem/proto';
import type { ConnectionState } from '../../src/connection/connection.js';
import { refuseFrame } from '../../src/services/frame-policy.js';

const ALL = Object.keys(CLIENT_FRAME_RESPONSES) as ClientFrameCase[];
const device = (isPrimary: boolean) => ({
  accountId: '11111111-2222-4333-8444-555555555555',
  deviceId: isPrimary ? 1 : 2,
  isPrimary,
});
const STATES: Record<string, ConnectionState> = {
  unauthenticated: { kind: 'unauthenticated' },
  authenticating: { kind: 'authenticating' },
  linking: { kind: 'linking', linkId: '00000000-0000-4000-8000-000000000001', completing: false },
  primary: { kind: 'authenticated', device: device(true) },
  companion: { kind: 'authenticated', device: device(false) },
  closed: { kind: 'closed', code: 1000 },
};

const ok = 'ok';
const U = ErrorCode[ErrorCode.UNAUTHENTICATED];
const F = ErrorCode[ErrorCode.FORBIDDEN];
const P = ErrorCode[ErrorCode.NOT_PRIMARY];
/** Expected answer per case, per state: 'ok' or the error code's name. */
const TABLE: Record<ClientFrameCase, Record<keyof typeof STATES, string>> = {
  ping: { unauthenticated: ok, authenticating: ok, linking: ok, primary: ok, companion: ok, closed: F },
  authenticate: { unauthenticated: ok, authenticating: U, linking: F, primary: F, companion: F, closed: F },
  registerRequestCode: {
    unauthenticated: ok,
    authenticating: U,
    linking: F,
    primary: F,
    companion: F,
    closed: F,
  },
  registerVerify: { unauthenticated: ok, authenticating: U, linking: F, primary: F, companion: F, closed: F },
  linkStart: { unauthenticated: ok, authenticating: U, linking: F, primary: F, companion: F, closed: F },
  linkComplete: { unauthenticated: F, authenticating: U, linking: ok, primary: F, companion: F, closed: F },
  linkCancel: { unauthenticated: F, authenticating: U, linking: ok, primary: ok, companion: ok, closed: F },
  send: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  ack: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  accountLookup: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  prekeyUpload: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  prekeyCount: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  bundleFetch: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  deviceListFetch: {
    unauthenticated: U,
    authenticating: U,
    linking: F,
    primary: ok,
    companion: ok,
    closed: F,
  },
  linkApprove: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: P, closed: F },
  unlink: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
  historyUpload: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: P, closed: F },
  historyFetch: { unauthenticated: U, authenticating: U, linking: F, primary: ok, companion: ok, closed: F },
};

describe('frame policy: which frames each socket state may send', () => {
  it('the table names every ClientFrame case', () => {
    expect(Object.keys(TABLE).sort()).toEqual([...ALL].sort());
  });

  for (const [name, state] of Object.entries(STATES)) {
    it(`${name} socket`, () => {
      const got = Object.fromEntries(
        ALL.map((kind) => {
          const refusal = refuseFrame(state, kind);
          return [kind, refusal ? ErrorCode[refusal.code] : ok];
        }),
      );
      const want = Object.fromEntries(ALL.map((kind) => [kind, TABLE[kind][name as keyof typeof STATES]]));
      expect(got).toEqual(want);
    });
  }
});
