import {
  type AccountLookup,
  type AccountLookupResult,
  type BundleFetch,
  type BundleResult,
  create,
  type DeviceList,
  type DeviceListFetch,
  DeviceStatus,
  ErrorCode,
  type LinkApprove,
  type LinkApproved,
  type LinkCancel,
  type LinkCancelled,
  type LinkCode,
  type LinkComplete,
  type LinkCompleted,
  type LinkStart,
  type PrekeyCountResult,
  type PrekeyUpload,
  type PrekeyUploadResult,
  type RegisterCodeSent,
  type Registered,
  type RegisterRequestCode,
  type RegisterVerify,
  RegistryAccountLookupRequestSchema,
  RegistryClaimBundlesRequestSchema,
  RegistryGetDeviceListRequestSchema,
  RegistryGetDeviceListsRequestSchema,
  RegistryGetDeviceRequestSchema,
  RegistryLinkApproveRequestSchema,
  RegistryLinkCancelRequestSchema,
  RegistryLinkCompleteRequestSchema,
  RegistryLinkCreateRequestSchema,
  RegistryPrekeyCountRequestSchema,
  RegistryRegisterRequestCodeRequestSchema,
  RegistryRegisterVerifyRequestSchema,
  RegistryTouchRequestSchema,
  RegistryUnlinkRequestSchema,
  RegistryUploadPrekeysRequestSchema,
  type SubjectCatalog,
  type Unlink,
  type Unlinked,
} from '@tandem/proto';

import { GatewayError } from '../errors.js';
import type { Address, DeviceSet } from '../services/device-set.js';
import type { Bus } from './bus.js';
import { call } from './rpc.js';

/** What the gateway needs to check an authenticate frame. */
export interface RegistryDeviceRecord {
  identityKey: Uint8Array;
  registrationId: number;
  active: boolean;
  isPrimary: boolean;
}

/** The registry's request/reply operations, as the gateway uses them. */
export interface RegistryClient {
  getDevice(device: Address): Promise<RegistryDeviceRecord>;
  getDeviceLists(accountIds: readonly string[]): Promise<Map<string, DeviceSet>>;
  registerRequestCode(req: RegisterRequestCode): Promise<RegisterCodeSent>;
  registerVerify(req: RegisterVerify): Promise<Registered>;
  accountLookup(requester: Address, req: AccountLookup): Promise<AccountLookupResult>;
  uploadPrekeys(device: Address, upload: PrekeyUpload): Promise<PrekeyUploadResult>;
  prekeyCount(device: Address): Promise<PrekeyCountResult>;
  claimBundles(requester: Address, req: BundleFetch): Promise<BundleResult>;
  getDeviceList(requester: Address, req: DeviceListFetch): Promise<DeviceList>;
  linkCreate(req: LinkStart): Promise<LinkCode>;
  linkApprove(requester: Address, req: LinkApprove): Promise<LinkApproved>;
  linkComplete(req: LinkComplete): Promise<LinkCompleted>;
  linkCancel(requester: Address | undefined, req: LinkCancel): Promise<LinkCancelled>;
  unlink(requester: Address, req: Unlink): Promise<Unlinked>;
  /** Last-seen times of connected devices (1..MAX_TOUCH_BATCH addresses). */
  touch(devices: readonly Address[], seenAtMs: number): Promise<void>;
  /**
   * Resolves when a registry instance answers a lookup that reaches its database (readiness
   * probe): registry.get_device of an address no device has, answered DEVICE_UNKNOWN.
   */
  ping(timeoutMs: number): Promise<void>;
}

const addr = (a: Address) => ({ accountId: a.accountId, deviceId: a.deviceId });

/** The address the readiness probe looks up: a valid UUID no account is given (v4 ids are random). */
export const PROBE_ADDRESS: Address = { accountId: '00000000-0000-0000-0000-000000000000', deviceId: 1 };

export class BusRegistryClient implements RegistryClient {
  constructor(
    private readonly bus: Bus,
    private readonly subjects: SubjectCatalog,
    private readonly timeoutMs: number,
  ) {}

  private get s() {
    return this.subjects.registry;
  }

  async ping(timeoutMs: number): Promise<void> {
    try {
      await call(
        this.bus,
        this.s.getDevice,
        create(RegistryGetDeviceRequestSchema, { device: addr(PROBE_ADDRESS) }),
        timeoutMs,
      );
    } catch (err) {
      // The expected answer: the registry looked the device up and found none.
      if (err instanceof GatewayError && err.code === ErrorCode.DEVICE_UNKNOWN) return;
      throw err;
    }
  }

  async getDevice(device: Address): Promise<RegistryDeviceRecord> {
    const d = await call(
      this.bus,
      this.s.getDevice,
      create(RegistryGetDeviceRequestSchema, { device: addr(device) }),
      this.timeoutMs,
    );
    return {
      identityKey: d.identityKey,
      registrationId: d.registrationId,
      active: d.status === DeviceStatus.ACTIVE,
      isPrimary: d.isPrimary,
    };
  }

  async getDeviceLists(accountIds: readonly string[]): Promise<Map<string, DeviceSet>> {
    const lists = await call(
      this.bus,
      this.s.getDeviceLists,
      create(RegistryGetDeviceListsRequestSchema, { accountIds: [...accountIds] }),
      this.timeoutMs,
    );
    const out = new Map<string, DeviceSet>();
    for (const account of lists.accounts) {
      out.set(account.accountId, new Map(account.devices.map((d) => [d.deviceId, d.registrationId])));
    }
    return out;
  }

  registerRequestCode(request: RegisterRequestCode): Promise<RegisterCodeSent> {
    return call(
      this.bus,
      this.s.registerRequestCode,
      create(RegistryRegisterRequestCodeRequestSchema, { request }),
      this.timeoutMs,
    );
  }

  registerVerify(request: RegisterVerify): Promise<Registered> {
    return call(
      this.bus,
      this.s.registerVerify,
      create(RegistryRegisterVerifyRequestSchema, { request }),
      this.timeoutMs,
    );
  }

  accountLookup(requester: Address, request: AccountLookup): Promise<AccountLookupResult> {
    return call(
      this.bus,
      this.s.accountLookup,
      create(RegistryAccountLookupRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }

  uploadPrekeys(device: Address, upload: PrekeyUpload): Promise<PrekeyUploadResult> {
    return call(
      this.bus,
      this.s.uploadPrekeys,
      create(RegistryUploadPrekeysRequestSchema, { device: addr(device), upload }),
      this.timeoutMs,
    );
  }

  prekeyCount(device: Address): Promise<PrekeyCountResult> {
    return call(
      this.bus,
      this.s.prekeyCount,
      create(RegistryPrekeyCountRequestSchema, { device: addr(device) }),
      this.timeoutMs,
    );
  }

  claimBundles(requester: Address, request: BundleFetch): Promise<BundleResult> {
    return call(
      this.bus,
      this.s.claimBundles,
      create(RegistryClaimBundlesRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }

  getDeviceList(requester: Address, request: DeviceListFetch): Promise<DeviceList> {
    return call(
      this.bus,
      this.s.getDeviceList,
      create(RegistryGetDeviceListRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }

  linkCreate(request: LinkStart): Promise<LinkCode> {
    return call(
      this.bus,
      this.s.linkCreate,
      create(RegistryLinkCreateRequestSchema, { request }),
      this.timeoutMs,
    );
  }

  linkApprove(requester: Address, request: LinkApprove): Promise<LinkApproved> {
    return call(
      this.bus,
      this.s.linkApprove,
      create(RegistryLinkApproveRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }

  linkComplete(request: LinkComplete): Promise<LinkCompleted> {
    return call(
      this.bus,
      this.s.linkComplete,
      create(RegistryLinkCompleteRequestSchema, { request }),
      this.timeoutMs,
    );
  }

  linkCancel(requester: Address | undefined, request: LinkCancel): Promise<LinkCancelled> {
    return call(
      this.bus,
      this.s.linkCancel,
      create(RegistryLinkCancelRequestSchema, {
        requester: requester ? addr(requester) : undefined,
        request,
      }),
      this.timeoutMs,
    );
  }

  unlink(requester: Address, request: Unlink): Promise<Unlinked> {
    return call(
      this.bus,
      this.s.unlink,
      create(RegistryUnlinkRequestSchema, { requester: addr(requester), request }),
      this.timeoutMs,
    );
  }

  async touch(devices: readonly Address[], seenAtMs: number): Promise<void> {
    await call(
      this.bus,
      this.s.touch,
      create(RegistryTouchRequestSchema, { devices: devices.map(addr), seenAtMs: BigInt(seenAtMs) }),
      this.timeoutMs,
    );
  }
}
