/**
 * The NATS face of the registry: one queue-group subscription per request subject of proto's
 * catalog. Each handler decodes and validates the request with proto's decoder, converts it to the
 * services' own types, and encodes the typed reply; every failure goes through toWireError.
 */
import type { Msg, Subscription } from '@nats-io/nats-core';
import {
  AccountDevicesSchema,
  AccountLookupResultSchema,
  BundleResultSchema,
  BusOkSchema,
  create,
  DeviceAddressSchema,
  DeviceBundleSchema,
  DeviceIdentitySchema,
  DeviceInfoSchema,
  DeviceListSchema,
  DeviceRegistrationSchema,
  DeviceStatus,
  decodeBus,
  encodeReply,
  errorCodeName,
  LinkApprovedSchema,
  LinkCancelledSchema,
  LinkCancelReason,
  LinkCodeSchema,
  LinkCompletedSchema,
  type Message,
  OneTimePrekeySchema,
  Platform,
  type PqPrekey,
  PqPrekeySchema,
  PrekeyCountResultSchema,
  PrekeyCountsSchema,
  PrekeyUploadResultSchema,
  RegisterCodeSentSchema,
  RegisteredSchema,
  RegistryDeviceListsSchema,
  RegistryDeviceSchema,
  type ReplyOk,
  type RequestSubject,
  replyError,
  replyOk,
  SignedDeviceListSchema,
  type SignedPrekey,
  SignedPrekeySchema,
  type SubjectCatalog,
  UnlinkedSchema,
  type PrekeyCounts as WirePrekeyCounts,
} from '@tandem/proto';
import type { Logger, NatsConnection } from '@tandem/service-kit';
import type { DeviceIdentity, PrekeyCounts, PrekeyUpload } from '../domain/types.js';
import type { RegistryMetrics } from '../metrics.js';
import type { DevicesService } from '../services/devices.service.js';
import type { LinkingService } from '../services/linking.service.js';
import type { PrekeysService } from '../services/prekeys.service.js';
import type { RegistrationService } from '../services/registration.service.js';
import { INTERNAL_ERROR, toWireError } from './error-map.js';

export interface RegistryServices {
  registration: RegistrationService;
  devices: DevicesService;
  prekeys: PrekeysService;
  linking: LinkingService;
}

const platformName = (p: Platform): string => Platform[p] ?? 'UNSPECIFIED';
const platformOf = (name: string): Platform =>
  (Platform as unknown as Record<string, Platform>)[name] ?? Platform.UNSPECIFIED;
const ms = (d: Date) => BigInt(d.getTime());
const counts = (c: PrekeyCounts): WirePrekeyCounts =>
  create(PrekeyCountsSchema, { oneTime: c.oneTime, pqOneTime: c.pqOneTime });
const signedPrekeyOut = (k: { id: number; publicKey: Uint8Array; signature: Uint8Array }): SignedPrekey =>
  create(SignedPrekeySchema, k);
const pqOut = (k: { id: number; publicKey: Uint8Array; signature: Uint8Array }): PqPrekey =>
  create(PqPrekeySchema, k);

function keysIn(m: {
  signedPrekey?: SignedPrekey | undefined;
  oneTimePrekeys: { id: number; publicKey: Uint8Array }[];
  pqPrekeys: PqPrekey[];
  pqLastResortPrekey?: PqPrekey | undefined;
}): PrekeyUpload {
  return {
    signedPrekey: m.signedPrekey,
    oneTimePrekeys: m.oneTimePrekeys,
    pqPrekeys: m.pqPrekeys,
    pqLastResortPrekey: m.pqLastResortPrekey,
  };
}

const identityIn = (
  i: { details: Uint8Array; accountSignature: Uint8Array; deviceSignature: Uint8Array } | undefined,
): DeviceIdentity | undefined =>
  i && { details: i.details, accountSignature: i.accountSignature, deviceSignature: i.deviceSignature };

export interface HandlerSet {
  subscriptions: Subscription[];
  /** Resolves when every request being handled has been answered. */
  idle(): Promise<void>;
}

export function registerHandlers(
  nc: NatsConnection,
  catalog: SubjectCatalog,
  s: RegistryServices,
  metrics: RegistryMetrics,
  logger: Logger,
): HandlerSet {
  const inFlight = new Set<Promise<void>>();
  const subscriptions: Subscription[] = [];

  function serve<Req extends Message, Res extends Message>(
    subject: RequestSubject<Req, Res>,
    handle: (req: Req) => Promise<ReplyOk<Res>>,
  ): void {
    const name = subject.subject.slice(catalog.prefix.length + 1);
    const run = async (msg: Msg) => {
      const stop = metrics.duration.startTimer({ subject: name });
      let reply: Res;
      let result = 'OK';
      try {
        const req = decodeBus(subject, msg.data);
        reply = replyOk(subject, await handle(req));
      } catch (err) {
        let wire = toWireError(err);
        if (!wire) {
          logger.error({ err, subject: name }, 'request failed');
          wire = INTERNAL_ERROR;
        }
        result = errorCodeName(wire.code);
        reply = replyError(subject, wire.code, wire.message, {
          ...(wire.retryAfterMs !== undefined ? { retryAfterMs: wire.retryAfterMs } : {}),
          ...(wire.details ? { details: wire.details } : {}),
        });
      }
      stop();
      metrics.requests.inc({ subject: name, result });
      if (msg.reply) {
        try {
          msg.respond(encodeReply(subject, reply));
        } catch (err) {
          logger.error({ err, subject: name }, 'reply failed');
        }
      }
    };
    const sub = nc.subscribe(subject.subject, {
      queue: subject.queueGroup,
      callback: (err, msg) => {
        if (err) {
          logger.error({ err, subject: name }, 'subscription error');
          return;
        }
        const p = run(msg);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      },
    });
    subscriptions.push(sub);
  }

  const r = catalog.registry;

  serve(r.registerRequestCode, async ({ request }) => {
    const expiresAt = await s.registration.requestCode(request!.handle);
    return create(RegisterCodeSentSchema, { expiresAtMs: ms(expiresAt) });
  });

  serve(r.registerVerify, async ({ request }) => {
    const q = request!;
    const out = await s.registration.verify({
      handle: q.handle,
      code: q.code,
      identityKey: q.identityKey,
      registrationId: q.registrationId,
      name: q.name,
      platform: platformName(q.platform),
      keys: keysIn(q),
    });
    return create(RegisteredSchema, out);
  });

  serve(r.accountLookup, async ({ request }) =>
    create(AccountLookupResultSchema, { accountId: await s.registration.lookup(request!.handle) }),
  );

  serve(r.getDevice, async ({ device }) => {
    const { device: d, status } = await s.devices.getDevice(device);
    return create(RegistryDeviceSchema, {
      address: create(DeviceAddressSchema, { accountId: d.accountId, deviceId: d.deviceId }),
      registrationId: d.registrationId,
      identityKey: d.identityKey,
      status: status === 'ACTIVE' ? DeviceStatus.ACTIVE : DeviceStatus.REVOKED,
      isPrimary: d.isPrimary,
    });
  });

  serve(r.getDeviceLists, async ({ accountIds }) => {
    const sets = await s.devices.deviceSets(accountIds);
    return create(RegistryDeviceListsSchema, {
      accounts: [...sets].map(([accountId, devices]) =>
        create(AccountDevicesSchema, {
          accountId,
          devices: devices.map((d) => create(DeviceRegistrationSchema, d)),
        }),
      ),
    });
  });

  serve(r.uploadPrekeys, async ({ device, upload }) =>
    create(PrekeyUploadResultSchema, { counts: counts(await s.prekeys.upload(device, keysIn(upload!))) }),
  );

  serve(r.prekeyCount, async ({ device }) =>
    create(PrekeyCountResultSchema, { counts: counts(await s.prekeys.count(device)) }),
  );

  serve(r.claimBundles, async ({ requester, request }) => {
    const out = await s.prekeys.claim(requester, request!.accountId, request!.deviceIds);
    return create(BundleResultSchema, {
      accountId: out.accountId,
      bundles: out.bundles.map((b) =>
        create(DeviceBundleSchema, {
          deviceId: b.deviceId,
          registrationId: b.registrationId,
          identityKey: b.identityKey,
          signedPrekey: signedPrekeyOut(b.signedPrekey),
          oneTimePrekey: b.oneTimePrekey ? create(OneTimePrekeySchema, b.oneTimePrekey) : undefined,
          pqPrekey: pqOut(b.pqPrekey),
          pqLastResort: b.pqLastResort,
        }),
      ),
    });
  });

  serve(r.getDeviceList, async ({ requester, request }) => {
    const { view, own, active } = await s.devices.deviceList(requester, request!.accountId);
    const primary = view.devices.find((d) => d.isPrimary);
    return create(DeviceListSchema, {
      accountId: view.accountId,
      primaryIdentityKey: primary?.identityKey ?? new Uint8Array(0),
      devices: active.map((d) =>
        create(DeviceInfoSchema, {
          deviceId: d.deviceId,
          registrationId: d.registrationId,
          identityKey: d.identityKey,
          name: own ? d.name : '',
          platform: own ? platformOf(d.platform) : Platform.UNSPECIFIED,
          linkedAtMs: ms(d.linkedAt ?? d.createdAt),
          identity: d.identity && !d.isPrimary ? create(DeviceIdentitySchema, d.identity) : undefined,
        }),
      ),
      signedList: view.signedList
        ? create(SignedDeviceListSchema, { list: view.signedList.list, signature: view.signedList.signature })
        : undefined,
      nextDeviceId: own ? view.nextDeviceId : 0,
    });
  });

  serve(r.linkCreate, async ({ request }) => {
    const q = request!;
    const out = await s.linking.create({
      identityKey: q.identityKey,
      ephemeralKey: q.ephemeralKey,
      registrationId: q.registrationId,
      name: q.name,
      platform: platformName(q.platform),
    });
    return create(LinkCodeSchema, { linkId: out.linkId, expiresAtMs: ms(out.expiresAt) });
  });

  serve(r.linkApprove, async ({ requester, request }) => {
    const q = request!;
    const out = await s.linking.approve(requester, {
      linkId: q.linkId,
      companionIdentityKey: q.companionIdentityKey,
      identity: identityIn(q.deviceIdentity),
      signedList: q.signedList && { list: q.signedList.list, signature: q.signedList.signature },
      sealedPayload: q.sealedPayload,
      deviceId: q.deviceId,
    });
    return create(LinkApprovedSchema, { linkId: out.linkId, deviceId: out.deviceId });
  });

  serve(r.linkComplete, async ({ request }) => {
    const q = request!;
    const out = await s.linking.complete({
      linkId: q.linkId,
      identity: identityIn(q.deviceIdentity),
      keys: keysIn(q),
    });
    return create(LinkCompletedSchema, out);
  });

  serve(r.linkCancel, async ({ requester, request }) => {
    const out = await s.linking.cancel(requester, request!.linkId);
    return create(LinkCancelledSchema, {
      linkId: out.linkId,
      reason:
        out.reason === 'CANCELLED_BY_PRIMARY'
          ? LinkCancelReason.CANCELLED_BY_PRIMARY
          : LinkCancelReason.CANCELLED_BY_COMPANION,
    });
  });

  serve(r.unlink, async ({ requester, request }) => {
    const q = request!;
    const out = await s.devices.unlink(
      requester,
      q.deviceId,
      q.signedList && { list: q.signedList.list, signature: q.signedList.signature },
    );
    return create(UnlinkedSchema, out);
  });

  serve(r.touch, async ({ devices, seenAtMs }) => {
    await s.devices.touch(devices, Number(seenAtMs));
    return create(BusOkSchema, {});
  });

  return {
    subscriptions,
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
