import {
  create,
  decodeBus,
  ErrorCode,
  type EventSubject,
  errorCodeName,
  type Message,
  type MessageInitShape,
  type ReplyOk,
  type RequestSubject,
  requestBus,
  type SubjectCatalog,
  subjects,
} from '@tandem/proto';
import { createLogger } from '@tandem/service-kit';
import { createTestNats, type TestDatabase, type TestNats } from '@tandem/testkit';
import {
  type Clock,
  InMemoryCodeSender,
  loadRegistryConfig,
  type RegistryApp,
  type RegistryConfig,
  startRegistry,
} from '../../src/app.js';
import { createRegistryDatabase } from './db.js';
import { DeviceKeys } from './keys.js';

export interface Harness {
  db: TestDatabase;
  nats: TestNats;
  catalog: SubjectCatalog;
  config: RegistryConfig;
  codes: InMemoryCodeSender;
  app: RegistryApp;
  /** Starts one more instance on the same database and prefix. */
  startInstance(): Promise<RegistryApp>;
  close(): Promise<void>;
}

export async function startHarness(
  env: Record<string, string> = {},
  options: { clock?: Clock; db?: TestDatabase } = {},
): Promise<Harness> {
  const db = options.db ?? (await createRegistryDatabase());
  const nats = await createTestNats();
  const config = loadRegistryConfig({
    DATABASE_URL: db.url,
    DATABASE_POOL_SIZE: '10',
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: nats.prefix,
    OPS_PORT: '0',
    OPS_HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    SWEEP_INTERVAL_MS: '0',
    ...env,
  });
  const codes = new InMemoryCodeSender();
  const instances: RegistryApp[] = [];
  const startInstance = async () => {
    const app = await startRegistry(config, {
      codeSender: codes,
      logger: createLogger({ service: 'device-registry', level: 'silent' }),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    instances.push(app);
    return app;
  };
  const app = await startInstance();
  return {
    db,
    nats,
    catalog: subjects(nats.prefix),
    config,
    codes,
    app,
    startInstance,
    async close() {
      await Promise.allSettled(instances.map((i) => i.stop()));
      await nats.close();
      await db.drop();
    },
  };
}

export class BusError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly codeName: string,
    readonly error: { retryAfterMs: number; details?: unknown },
    message: string,
  ) {
    super(`${codeName}: ${message}`);
  }
}

/** Sends a proto-encoded request and returns the whole typed response. */
export async function call<Req extends Message, Res extends Message>(
  h: Pick<Harness, 'nats'>,
  subject: RequestSubject<Req, Res>,
  init: MessageInitShape<RequestSubject<Req, Res>['schema']>,
  timeoutMs = 10_000,
): Promise<Res> {
  const requester = {
    request: (s: string, d: Uint8Array, o: { timeoutMs: number }) =>
      h.nats.nc.request(s, d, { timeout: o.timeoutMs }).then((m) => m.data),
  };
  return requestBus(requester, subject, create(subject.schema, init as never) as never, { timeoutMs });
}

type Result = {
  result:
    | { case: 'ok'; value: unknown }
    | { case: 'error'; value: { code: ErrorCode; message: string; retryAfterMs: number; details?: unknown } }
    | { case: undefined };
};

/** The `ok` value of a response, or a BusError carrying the error code. */
export async function ok<Req extends Message, Res extends Message>(
  h: Pick<Harness, 'nats'>,
  subject: RequestSubject<Req, Res>,
  init: MessageInitShape<RequestSubject<Req, Res>['schema']>,
): Promise<ReplyOk<Res>> {
  const res = (await call(h, subject, init)) as unknown as Result;
  if (res.result.case === 'ok') return res.result.value as ReplyOk<Res>;
  if (res.result.case === 'error') {
    const e = res.result.value;
    throw new BusError(e.code, errorCodeName(e.code), e, e.message);
  }
  throw new Error('empty reply');
}

/** The error of a response that must fail. */
export async function fails<Req extends Message, Res extends Message>(
  h: Pick<Harness, 'nats'>,
  subject: RequestSubject<Req, Res>,
  init: MessageInitShape<RequestSubject<Req, Res>['schema']>,
): Promise<BusError> {
  try {
    await ok(h, subject, init);
  } catch (err) {
    if (err instanceof BusError) return err;
    throw err;
  }
  throw new Error(`${subject.subject} unexpectedly succeeded`);
}

/**
 * Waits until everything the registry instances published has reached the test's connection:
 * each instance's flush returns once the server has processed its publishes, and the test
 * connection's flush (a PING the server answers after what it queued for us) then delivers them.
 */
export async function settle(
  h: Pick<Harness, 'nats' | 'app'>,
  ...more: { nats: { flush(): Promise<void> } }[]
) {
  await Promise.all([h.app, ...more].map((a) => a.nats.flush()));
  await h.nats.nc.flush();
}

/** Collects the decoded events published on a subject. */
export function collect<M extends Message>(
  h: Pick<Harness, 'nats'>,
  subject: EventSubject<M> | { subject: string; schema: EventSubject<M>['schema'] },
) {
  const got: M[] = [];
  const sub = h.nats.nc.subscribe(subject.subject, {
    callback: (_err, msg) => {
      got.push(decodeBus(subject as EventSubject<M>, msg.data));
    },
  });
  return { got, stop: () => sub.unsubscribe(), flush: () => h.nats.nc.flush() };
}

export interface Registered {
  accountId: string;
  handle: string;
  keys: DeviceKeys;
}

let handles = 0;
export const newHandle = () => `user_${Date.now().toString(36)}_${handles++}`;

/** Registers an account with a primary device holding `oneTime` one-time prekeys. */
export async function registerAccount(h: Harness, oneTime = 10, pq = 5): Promise<Registered> {
  const handle = newHandle();
  const keys = new DeviceKeys();
  await ok(h, h.catalog.registry.registerRequestCode, { request: { handle } });
  const code = h.codes.sent.get(handle)!;
  const out = await ok(h, h.catalog.registry.registerVerify, {
    request: {
      handle,
      code,
      identityKey: keys.publicKey,
      registrationId: keys.registrationId,
      name: 'phone',
      platform: 1,
      ...keys.keySet(oneTime, pq),
    },
  });
  return { accountId: out.accountId, handle, keys };
}

export interface AccountState {
  accountId: string;
  primary: DeviceKeys;
  /** Current devices (id -> keys) in the registry's view, primary included. */
  devices: Map<number, DeviceKeys>;
  listIndex: number;
}

export const stateOf = (r: Registered): AccountState => ({
  accountId: r.accountId,
  primary: r.keys,
  devices: new Map([[1, r.keys]]),
  listIndex: 0,
});

export const listEntries = (s: AccountState) =>
  [...s.devices].map(([deviceId, k]) => ({ deviceId, identityKey: k.publicKey }));

/** Opens a link session for a fresh companion. */
export async function startLink(h: Harness, companion = new DeviceKeys()) {
  const code = await ok(h, h.catalog.registry.linkCreate, {
    request: {
      identityKey: companion.publicKey,
      ephemeralKey: companion.ephemeralKey,
      registrationId: companion.registrationId,
      name: 'laptop',
      platform: 3,
    },
  });
  return { linkId: code.linkId, expiresAtMs: code.expiresAtMs, companion };
}

/** The primary's approval of a link session as the next device id. */
export function approval(
  s: AccountState,
  linkId: string,
  companion: DeviceKeys,
  deviceId: number,
  { includeCompanion = true } = {},
) {
  const devices = [
    ...listEntries(s),
    ...(includeCompanion ? [{ deviceId, identityKey: companion.publicKey }] : []),
  ];
  return {
    requester: { accountId: s.accountId, deviceId: 1 },
    request: {
      linkId,
      companionIdentityKey: companion.publicKey,
      deviceIdentity: s.primary.vouchFor(s.accountId, deviceId, companion.publicKey),
      signedList: s.primary.signList(s.accountId, s.listIndex + 1, devices),
      sealedPayload: new Uint8Array([1, 2, 3]),
      deviceId,
    },
  };
}

/** Links a companion end to end (create, approve, complete); updates the state. */
export async function linkCompanion(
  h: Harness,
  s: AccountState,
): Promise<{ deviceId: number; keys: DeviceKeys }> {
  const { linkId, companion } = await startLink(h);
  const list = await ok(h, h.catalog.registry.getDeviceList, {
    requester: { accountId: s.accountId, deviceId: 1 },
    request: { accountId: s.accountId },
  });
  const deviceId = list.nextDeviceId;
  const req = approval(s, linkId, companion, deviceId);
  await ok(h, h.catalog.registry.linkApprove, req);
  s.listIndex += 1;
  await ok(h, h.catalog.registry.linkComplete, {
    request: {
      linkId,
      deviceIdentity: companion.counterSign(req.request.deviceIdentity, s.primary.publicKey),
      ...companion.keySet(5, 2),
    },
  });
  s.devices.set(deviceId, companion);
  return { deviceId, keys: companion };
}

export { ErrorCode };
