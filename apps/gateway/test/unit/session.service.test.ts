import { describe, expect, it } from '@jest/globals';
import {
  type ClientFrame,
  ClientFrameSchema,
  CloseCode,
  create,
  DeliveryPageSchema,
  ErrorCode,
  encodeClientFrame,
  type ServerFrame,
  subjects,
} from '@tandem/proto';
import { BusUnavailableError } from '../../src/bus/bus.js';
import type { DeliveryClient } from '../../src/bus/delivery.client.js';
import type { RegistryClient } from '../../src/bus/registry.client.js';
import { ManualClock } from '../../src/clock.js';
import { loadGatewayConfig } from '../../src/config.js';
import type { DeviceIdentity } from '../../src/connection/connection.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { GatewayError } from '../../src/errors.js';
import { LocalRateLimiter } from '../../src/limits/token-bucket.js';
import type { AuthService } from '../../src/services/auth.service.js';
import { DeviceListCache } from '../../src/services/device-list-cache.js';
import { DeviceSessionService } from '../../src/services/device-session.service.js';
import { LinkService } from '../../src/services/link.service.js';
import type { SendService } from '../../src/services/send.service.js';
import { peekRequestId, SessionService } from '../../src/services/session.service.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeSocket } from '../helpers/fake-socket.js';
import { framesOf, makeOutbound, silentLogger } from '../helpers/unit-kit.js';

const ACCOUNT = 'cccccccc-0000-4000-8000-000000000000';

function setup(
  env: Record<string, string> = {},
  authResult?: DeviceIdentity | Error | Promise<DeviceIdentity>,
  registryImpl?: Partial<RegistryClient>,
) {
  const config = loadGatewayConfig({
    AUTH_TIMEOUT_MS: '40',
    FRAME_RATE_BURST: '5',
    RATE_VIOLATIONS_BEFORE_CLOSE: '3',
    ...env,
  });
  const clock = new ManualClock();
  const bus = new FakeBus();
  const catalog = subjects('unit');
  const { outbound, metrics } = makeOutbound();
  const connections = new ConnectionRegistry();
  const delivery = {
    fetchPage: async () => create(DeliveryPageSchema, { items: [], more: false }),
  } as unknown as DeliveryClient;
  const registry = (registryImpl ?? {
    registerRequestCode: async () => {
      throw new BusUnavailableError('x', 'timeout');
    },
  }) as unknown as RegistryClient;
  const sessions = new DeviceSessionService(bus, catalog, delivery, connections, outbound, silentLogger, {
    drainPageSize: 10,
    drainBufferLowWater: 1 << 20,
    drainStallMs: 100,
    maxPendingLive: 10,
    forwardedWindow: 20,
  });
  const auth = {
    authenticate: async () => {
      if (authResult instanceof Error) throw authResult;
      return (await authResult) ?? { accountId: ACCOUNT, deviceId: 2, isPrimary: false };
    },
  } as unknown as AuthService;
  const lists = new DeviceListCache({ getDeviceLists: async () => new Map() }, 10);
  const session = new SessionService({
    config,
    clock,
    logger: silentLogger,
    metrics,
    outbound,
    connections,
    auth,
    sessions,
    send: {} as SendService,
    link: new LinkService(registry, bus, catalog, outbound, sessions, clock, silentLogger),
    registry,
    delivery,
    lists,
    connectLimiter: new LocalRateLimiter({ capacity: 100, refillPerSec: 1 }, clock),
    preauthLimiter: new LocalRateLimiter({ capacity: 100, refillPerSec: 1 }, clock),
    sendLimiter: new LocalRateLimiter({ capacity: 100, refillPerSec: 1 }, clock),
  });
  const socket = new FakeSocket();
  const conn = session.open(socket, '10.0.0.1')!;
  let nextId = 1;
  const send = (body: ClientFrame['body']) => {
    const requestId = nextId++;
    session.message(conn, encodeClientFrame(create(ClientFrameSchema, { requestId, body })), true);
    return requestId;
  };
  const answers = (id: number): ServerFrame[] => framesOf(socket).filter((f) => f.requestId === id);
  const settle = () => new Promise((r) => setTimeout(r, 5));
  return { session, conn, socket, send, answers, settle, connections, metrics };
}

const ping = { case: 'ping', value: { $typeName: 'tandem.v1.Ping', timestampMs: 1n } } as const;
const prekeyCount = { case: 'prekeyCount', value: { $typeName: 'tandem.v1.PrekeyCount' } } as const;
const authenticate = {
  case: 'authenticate',
  value: {
    $typeName: 'tandem.v1.Authenticate',
    accountId: ACCOUNT,
    deviceId: 2,
    timestampMs: 1n,
    signature: new Uint8Array(64),
  },
} as const;
const codeOf = (f: ServerFrame | undefined) => (f?.body.case === 'error' ? f.body.value.code : f?.body.case);

describe('SessionService', () => {
  it('greets with a challenge and closes with 4008 when no authenticate arrives in time', async () => {
    const { socket } = setup();
    expect(framesOf(socket)[0]!.body.case).toBe('challenge');
    await new Promise((r) => setTimeout(r, 80));
    expect(codeOf(framesOf(socket).at(-1))).toBe(ErrorCode.AUTH_TIMEOUT);
    expect(socket.closed?.code).toBe(CloseCode.AUTH_TIMEOUT);
  });

  it('answers every request exactly once with its request id', async () => {
    const { send, answers, settle } = setup();
    const a = send(ping);
    const b = send(prekeyCount);
    const c = send({
      case: 'registerRequestCode',
      value: { $typeName: 'tandem.v1.RegisterRequestCode', handle: 'alice' },
    });
    await settle();
    expect(answers(a).map((f) => f.body.case)).toEqual(['pong']);
    expect(answers(b).map(codeOf)).toEqual([ErrorCode.UNAUTHENTICATED]);
    expect(answers(c).map(codeOf)).toEqual([ErrorCode.TIMEOUT]);
  });

  it('gates frames by state: FORBIDDEN after authentication for pre-auth frames, NOT_PRIMARY for companions', async () => {
    const { send, answers, settle, conn, metrics } = setup();
    const auth = send(authenticate);
    await settle();
    expect(answers(auth)[0]!.body.case).toBe('authenticated');
    expect(conn.device).toEqual({ accountId: ACCOUNT, deviceId: 2, isPrimary: false });
    const again = send(authenticate);
    const approve = send({
      case: 'linkApprove',
      value: create((await import('@tandem/proto')).LinkApproveSchema, {
        linkId: '00000000-0000-4000-8000-000000000001',
        companionIdentityKey: new Uint8Array(32).fill(9),
        deviceIdentity: { details: new Uint8Array(65), accountSignature: new Uint8Array(64) },
        signedList: { list: new Uint8Array(60), signature: new Uint8Array(64) },
        sealedPayload: new Uint8Array(1),
        deviceId: 3,
      }),
    });
    await settle();
    expect(answers(again).map(codeOf)).toEqual([ErrorCode.FORBIDDEN]);
    expect(answers(approve).map(codeOf)).toEqual([ErrorCode.NOT_PRIMARY]);
    expect((await metrics.authenticated.get()).values[0]!.value).toBe(1);
    conn.close(1000, 'bye');
    expect((await metrics.authenticated.get()).values[0]!.value).toBe(0);
    expect((await metrics.connections.get()).values[0]!.value).toBe(0);
  });

  it('answers UNAUTHENTICATED (wait for the authenticate answer) to frames sent while authentication is in progress', async () => {
    let finish!: (d: DeviceIdentity) => void;
    const pending = new Promise<DeviceIdentity>((r) => {
      finish = r;
    });
    const { send, answers, settle, conn } = setup({}, pending);
    const auth = send(authenticate);
    await settle();
    expect(conn.state.kind).toBe('authenticating');
    const during = send(prekeyCount);
    const pingDuring = send(ping);
    await settle();
    const answer = answers(during)[0];
    expect(codeOf(answer)).toBe(ErrorCode.UNAUTHENTICATED);
    expect(answer?.body.case === 'error' && answer.body.value.message).toMatch(
      /wait for the answer to authenticate/,
    );
    expect(answers(pingDuring).map((f) => f.body.case)).toEqual(['pong']);
    finish({ accountId: ACCOUNT, deviceId: 2, isPrimary: false });
    await settle();
    expect(answers(auth)[0]!.body.case).toBe('authenticated');
    conn.close(1000, 'done');
  });

  it('closes with 4001 after AUTH_FAILED, but keeps the socket when the registry is merely slow', async () => {
    const failed = setup({}, new GatewayError(ErrorCode.AUTH_FAILED, 'bad'));
    failed.send(authenticate);
    await failed.settle();
    expect(failed.socket.closed?.code).toBe(CloseCode.AUTH_FAILED);
    const slow = setup({ AUTH_TIMEOUT_MS: '5000' }, new BusUnavailableError('x', 'timeout'));
    const id = slow.send(authenticate);
    await slow.settle();
    expect(slow.answers(id).map(codeOf)).toEqual([ErrorCode.TIMEOUT]);
    expect(slow.socket.closed).toBeUndefined();
    expect(slow.conn.state.kind).toBe('unauthenticated');
    slow.conn.close(1000, 'done');
  });

  it('rate-limits with retry_after_ms and closes a socket that keeps going (4029)', async () => {
    const { send, answers, socket, conn } = setup({ AUTH_TIMEOUT_MS: '5000' });
    const ids = Array.from({ length: 8 }, () => send(ping));
    const limited = ids.flatMap(answers).filter((f) => codeOf(f) === ErrorCode.RATE_LIMITED);
    expect(limited).toHaveLength(3);
    expect(limited[0]!.body.case === 'error' && limited[0]!.body.value.retryAfterMs).toBeGreaterThan(0);
    expect(socket.closed?.code).toBe(CloseCode.RATE_LIMITED);
    expect(conn.isClosed).toBe(true);
  });

  it('answers undecodable frames with BAD_FRAME and closes on a text frame (4009)', () => {
    const { session, conn, socket } = setup({ AUTH_TIMEOUT_MS: '5000' });
    session.message(conn, new Uint8Array([0xff, 0x01]), true);
    expect(codeOf(framesOf(socket).at(-1))).toBe(ErrorCode.BAD_FRAME);
    expect(socket.closed).toBeUndefined();
    session.message(conn, new TextEncoder().encode('{}'), false);
    expect(socket.closed?.code).toBe(CloseCode.PROTOCOL_VIOLATION);
  });

  it('answers an undecodable frame with its request id when the id itself is readable', () => {
    const { session, conn, socket } = setup({ AUTH_TIMEOUT_MS: '5000' });
    const frame = encodeClientFrame(create(ClientFrameSchema, { requestId: 300, body: ping }));
    session.message(conn, frame.subarray(0, frame.length - 1), true); // truncated
    const answer = framesOf(socket).at(-1)!;
    expect(codeOf(answer)).toBe(ErrorCode.BAD_FRAME);
    expect(answer.requestId).toBe(300);
    expect(peekRequestId(new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toBe(0xffff_ffff);
    expect(peekRequestId(new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toBe(0);
    expect(peekRequestId(new Uint8Array([0x12, 0x00]))).toBe(0);
    conn.close(1000, 'done');
  });

  it('refuses new sockets from one IP past its connect budget with RATE_LIMITED and 4029', () => {
    const { session } = setup({ AUTH_TIMEOUT_MS: '5000' });
    const accepted: FakeSocket[] = [];
    let refused: FakeSocket | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const s = new FakeSocket();
      if (session.open(s, '192.0.2.7')) accepted.push(s);
      else refused = s;
    }
    // setup() opened one socket from another IP; this IP got the whole burst (100).
    expect(accepted).toHaveLength(100);
    const answer = framesOf(refused!)[0]!;
    expect(codeOf(answer)).toBe(ErrorCode.RATE_LIMITED);
    expect(answer.body.case === 'error' && answer.body.value.retryAfterMs).toBeGreaterThan(0);
    expect(refused!.closed?.code).toBe(CloseCode.RATE_LIMITED);
    expect(session.open(new FakeSocket(), '192.0.2.8')).toBeDefined();
  });

  it('refuses new sockets while draining with going_away and 1012', async () => {
    const { session } = setup({ AUTH_TIMEOUT_MS: '5000' });
    await session.shutdown(10);
    const late = new FakeSocket();
    expect(session.open(late, '10.0.0.2')).toBeUndefined();
    expect(framesOf(late).map((f) => f.body.case)).toEqual(['goingAway']);
    expect(late.closed?.code).toBe(CloseCode.SERVICE_RESTART);
  });

  describe('a socket waiting for a person to type a verification code', () => {
    const codeSent = {
      registerRequestCode: async () => ({ $typeName: 'tandem.v1.RegisterCodeSent', expiresAtMs: 1n }),
    } as unknown as Partial<RegistryClient>;
    const requestCode = {
      case: 'registerRequestCode',
      value: { $typeName: 'tandem.v1.RegisterRequestCode', handle: 'alice' },
    } as const;

    it('stays open past AUTH_TIMEOUT_MS, for REGISTRATION_WINDOW_MS, after the code was sent', async () => {
      const { send, answers, socket, settle } = setup(
        { AUTH_TIMEOUT_MS: '40', REGISTRATION_WINDOW_MS: '200' },
        undefined,
        codeSent,
      );
      const id = send(requestCode);
      await settle();
      expect(codeOf(answers(id)[0])).toBe('registerCodeSent');
      await new Promise((r) => setTimeout(r, 100)); // well past AUTH_TIMEOUT_MS
      expect(socket.closed).toBeUndefined();
      await new Promise((r) => setTimeout(r, 200));
      expect(socket.closed?.code).toBe(CloseCode.AUTH_TIMEOUT);
    });

    it('allows REGISTRATION_SOCKETS_PER_IP such sockets per address; the next gets RATE_LIMITED and the short timeout', async () => {
      const { session, send, answers, settle } = setup(
        { AUTH_TIMEOUT_MS: '40', REGISTRATION_WINDOW_MS: '5000', REGISTRATION_SOCKETS_PER_IP: '1' },
        undefined,
        codeSent,
      );
      const first = send(requestCode);
      await settle();
      expect(codeOf(answers(first)[0])).toBe('registerCodeSent');
      const other = new FakeSocket();
      const conn2 = session.open(other, '10.0.0.1')!;
      session.message(
        conn2,
        encodeClientFrame(create(ClientFrameSchema, { requestId: 7, body: requestCode })),
        true,
      );
      await settle();
      expect(codeOf(framesOf(other).find((f) => f.requestId === 7))).toBe(ErrorCode.RATE_LIMITED);
      await new Promise((r) => setTimeout(r, 80));
      expect(other.closed?.code).toBe(CloseCode.AUTH_TIMEOUT);
      // Another address is not affected.
      const third = new FakeSocket();
      const conn3 = session.open(third, '10.0.0.2')!;
      session.message(
        conn3,
        encodeClientFrame(create(ClientFrameSchema, { requestId: 8, body: requestCode })),
        true,
      );
      await settle();
      expect(codeOf(framesOf(third).find((f) => f.requestId === 8))).toBe('registerCodeSent');
    });
  });
});
