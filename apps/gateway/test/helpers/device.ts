import { randomBytes, randomUUID } from 'node:crypto';
import {
  counterSignCompanion,
  type DeviceIdentityDetails,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
} from '@tandem/crypto/device-signatures';
import { generateIdentity, type IdentityKeyPair, signAuthChallenge } from '@tandem/crypto/identity';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generatePqPrekeys,
  generateSignedPrekey,
} from '@tandem/crypto/prekeys';
import {
  create,
  type DeviceList,
  EnvelopeType,
  ErrorCode,
  errorCodeName,
  LinkApproveSchema,
  LinkCompleteSchema,
  Platform,
  RegisterVerifySchema,
  SendSchema,
  type ServerFrame,
  UnlinkSchema,
} from '@tandem/proto';
import { type ClientBody, TestClient } from './client.js';
import type { Stack } from './stack.js';

export const rand = (n: number) => new Uint8Array(randomBytes(n));

/** The answer's value when it is the expected case; a readable failure otherwise. */
export function expectCase<C extends NonNullable<ServerFrame['body']['case']>>(
  frame: ServerFrame,
  c: C,
): Extract<ServerFrame['body'], { case: C }>['value'] {
  if (frame.body.case !== c) {
    const detail =
      frame.body.case === 'error'
        ? `${errorCodeName(frame.body.value.code)}: ${frame.body.value.message}`
        : '';
    throw new Error(`expected ${c}, got ${frame.body.case} ${detail}`);
  }
  return frame.body.value as never;
}

export const errorCode = (f: ServerFrame): ErrorCode | undefined =>
  f.body.case === 'error' ? f.body.value.code : undefined;

function prekeyMaterial(identity: IdentityKeyPair) {
  const spk = generateSignedPrekey(identity.secretKey, 1);
  const pqLast = generateLastResortPqPrekey(identity.secretKey, 1000);
  return {
    signedPrekey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    oneTimePrekeys: generateOneTimePrekeys(1, 5).map((k) => ({ id: k.id, publicKey: k.publicKey })),
    pqPrekeys: generatePqPrekeys(identity.secretKey, 1, 1).map((k) => ({
      id: k.id,
      publicKey: k.publicKey,
      signature: k.signature,
    })),
    pqLastResortPrekey: { id: pqLast.id, publicKey: pqLast.publicKey, signature: pqLast.signature },
  };
}

/** One device as a client would be: its keys, its address, and (when connected) its socket. */
export class TestDevice {
  readonly identity = generateIdentity();
  readonly registrationId = 1 + Math.floor(Math.random() * 16000);
  accountId = '';
  deviceId = 0;
  handle = '';
  client: TestClient | undefined;

  get address() {
    return { accountId: this.accountId, deviceId: this.deviceId };
  }

  /** Registers a new account with this device as its primary, over a socket of `url`, and authenticates it. */
  static async registerPrimary(
    stack: Stack,
    url: string,
    handle = `u${randomUUID().slice(0, 8)}`,
  ): Promise<TestDevice> {
    const d = new TestDevice();
    d.handle = handle;
    const c = await TestClient.connect(url);
    expectCase(
      await c.request({
        case: 'registerRequestCode',
        value: { $typeName: 'tandem.v1.RegisterRequestCode', handle },
      }),
      'registerCodeSent',
    );
    const code = stack.codes.sent.get(handle);
    if (!code) throw new Error('no verification code was sent');
    const registered = expectCase(await c.request(d.registerVerifyBody(handle, code)), 'registered');
    d.accountId = registered.accountId;
    d.deviceId = registered.deviceId;
    await d.authenticateOn(c);
    return d;
  }

  /** A register_verify with this device's keys. */
  registerVerifyBody(handle: string, code: string): ClientBody {
    return {
      case: 'registerVerify',
      value: create(RegisterVerifySchema, {
        handle,
        code,
        identityKey: this.identity.publicKey,
        registrationId: this.registrationId,
        name: 'phone',
        platform: Platform.CLI,
        ...prekeyMaterial(this.identity),
      }),
    };
  }

  /** Signs the socket's challenge and waits for `authenticated`. */
  async authenticateOn(
    c: TestClient,
    opts: { timestampMs?: number; realm?: string } = {},
  ): Promise<ServerFrame> {
    const answer = await c.request(this.authenticateBody(c, opts));
    if (answer.body.case === 'authenticated') this.client = c;
    return answer;
  }

  authenticateBody(
    c: TestClient,
    opts: { timestampMs?: number; realm?: string; secret?: Uint8Array } = {},
  ): ClientBody {
    const timestampMs = opts.timestampMs ?? Date.now();
    const signature = signAuthChallenge(opts.secret ?? this.identity.secretKey, {
      realm: opts.realm ?? c.challenge.realm,
      nonce: c.challenge.nonce,
      timestampMs,
      accountId: this.accountId,
      deviceId: this.deviceId,
    });
    return {
      case: 'authenticate',
      value: {
        $typeName: 'tandem.v1.Authenticate',
        accountId: this.accountId,
        deviceId: this.deviceId,
        timestampMs: BigInt(timestampMs),
        signature,
      },
    };
  }

  /** Opens a new socket to `url` and authenticates it as this device. */
  async connect(url: string, opts: { autoPong?: boolean } = {}): Promise<TestClient> {
    const c = await TestClient.connect(url, opts);
    expectCase(await this.authenticateOn(c), 'authenticated');
    return c;
  }

  get socket(): TestClient {
    if (!this.client) throw new Error('device not connected');
    return this.client;
  }

  async deviceList(accountId: string): Promise<DeviceList> {
    return expectCase(
      await this.socket.request({
        case: 'deviceListFetch',
        value: { $typeName: 'tandem.v1.DeviceListFetch', accountId },
      }),
      'deviceList',
    );
  }

  /** A send with one random ciphertext per device of `recipients` (device id -> registration id). */
  sendBody(
    recipientAccountId: string,
    copies: Array<{ accountId: string; deviceId: number; registrationId: number }>,
    size = 64,
    clientMessageId = randomUUID(),
  ): ClientBody {
    return {
      case: 'send',
      value: create(SendSchema, {
        clientMessageId,
        recipientAccountId,
        copies: copies.map((c) => ({
          address: { accountId: c.accountId, deviceId: c.deviceId },
          registrationId: c.registrationId,
          type: EnvelopeType.MESSAGE,
          ciphertext: rand(size),
        })),
      }),
    };
  }

  /** Copies for every current device of `accountId` plus this account's other devices, from the registry. */
  async fanout(
    accountId: string,
  ): Promise<Array<{ accountId: string; deviceId: number; registrationId: number }>> {
    const out: Array<{ accountId: string; deviceId: number; registrationId: number }> = [];
    const accounts = accountId === this.accountId ? [accountId] : [accountId, this.accountId];
    for (const a of accounts) {
      const list = await this.deviceList(a);
      for (const dev of list.devices) {
        if (a === this.accountId && dev.deviceId === this.deviceId) continue;
        out.push({ accountId: a, deviceId: dev.deviceId, registrationId: dev.registrationId });
      }
    }
    return out;
  }

  /** Sends one message to every current device of `accountId` (and own others); resolves with the answer. */
  async sendTo(accountId: string, size = 64): Promise<ServerFrame> {
    return this.socket.request(this.sendBody(accountId, await this.fanout(accountId), size));
  }

  // ---- linking -----------------------------------------------------------------------------

  /** Companion side: open a linking socket and start a link session. */
  async startLink(url: string): Promise<{ client: TestClient; linkId: string }> {
    const c = await TestClient.connect(url);
    const code = expectCase(
      await c.request({
        case: 'linkStart',
        value: {
          $typeName: 'tandem.v1.LinkStart',
          identityKey: this.identity.publicKey,
          ephemeralKey: rand(32),
          registrationId: this.registrationId,
          name: 'laptop',
          platform: Platform.DESKTOP,
        },
      }),
      'linkCode',
    );
    return { client: c, linkId: code.linkId };
  }

  /**
   * Primary side: approve `companion`'s link. Returns the answer and what the primary signed (a
   * real primary sends the latter inside the sealed payload, which the server cannot read).
   */
  async approveLink(
    linkId: string,
    companion: TestDevice,
  ): Promise<{ answer: ServerFrame; approval: Approval }> {
    const own = await this.deviceList(this.accountId);
    const deviceId = own.nextDeviceId;
    const details = {
      accountId: this.accountId,
      deviceId,
      identityKey: companion.identity.publicKey,
      linkedAtMs: Date.now(),
      keyIndex: deviceId,
    };
    const accountSignature = signCompanion(this.identity.secretKey, details);
    const list = signDeviceList(this.identity.secretKey, {
      accountId: this.accountId,
      timestampMs: Date.now(),
      listIndex: nextListIndex(this.accountId),
      devices: [
        ...own.devices.map((d) => ({ deviceId: d.deviceId, identityKey: d.identityKey })),
        { deviceId, identityKey: companion.identity.publicKey },
      ],
    });
    const answer = await this.socket.request({
      case: 'linkApprove',
      value: create(LinkApproveSchema, {
        linkId,
        companionIdentityKey: companion.identity.publicKey,
        deviceIdentity: {
          details: encodeDeviceIdentityDetails(details),
          accountSignature,
          deviceSignature: new Uint8Array(0),
        },
        signedList: { list: list.listBytes, signature: list.signature },
        sealedPayload: rand(200),
        deviceId,
      }),
    });
    return { answer, approval: { details, accountSignature } };
  }

  /** Companion side: after link_payload, counter-sign and complete; the socket becomes this device's. */
  async completeLink(
    c: TestClient,
    linkId: string,
    primary: TestDevice,
    approved: Approval,
  ): Promise<ServerFrame> {
    const payloadFrame = await c.waitPush((f) => f.body.case === 'linkPayload', 5000, 'link_payload');
    const payload = expectCase(payloadFrame, 'linkPayload');
    this.accountId = payload.accountId;
    this.deviceId = payload.deviceId;
    const deviceSignature = counterSignCompanion(
      this.identity.secretKey,
      approved.details,
      approved.accountSignature,
      primary.identity.publicKey,
    );
    const answer = await c.request({
      case: 'linkComplete',
      value: create(LinkCompleteSchema, {
        linkId,
        deviceIdentity: {
          details: encodeDeviceIdentityDetails(approved.details),
          accountSignature: approved.accountSignature,
          deviceSignature,
        },
        ...prekeyMaterial(this.identity),
      }),
    });
    if (answer.body.case === 'linkCompleted') this.client = c;
    return answer;
  }

  /** Primary side: unlink `deviceId` with a new signed list without it. */
  async unlink(deviceId: number): Promise<ServerFrame> {
    const own = await this.deviceList(this.accountId);
    const list = signDeviceList(this.identity.secretKey, {
      accountId: this.accountId,
      timestampMs: Date.now(),
      listIndex: nextListIndex(this.accountId),
      devices: own.devices
        .filter((d) => d.deviceId !== deviceId)
        .map((d) => ({ deviceId: d.deviceId, identityKey: d.identityKey })),
    });
    return this.socket.request({
      case: 'unlink',
      value: create(UnlinkSchema, {
        deviceId,
        signedList: { list: list.listBytes, signature: list.signature },
      }),
    });
  }
}

export interface Approval {
  details: DeviceIdentityDetails;
  accountSignature: Uint8Array;
}

const listIndexes = new Map<string, number>();
/** The primary's device-list counter (increments with every list it signs). */
function nextListIndex(accountId: string): number {
  const next = (listIndexes.get(accountId) ?? 0) + 1;
  listIndexes.set(accountId, next);
  return next;
}

export { ErrorCode };
