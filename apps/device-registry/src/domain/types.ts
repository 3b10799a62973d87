/** The registry's own view of its data, independent of the wire (proto) and storage (Prisma) types. */

export interface DeviceAddress {
  accountId: string;
  deviceId: number;
}

export interface SignedPrekeyInput {
  id: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

export interface OneTimePrekeyInput {
  id: number;
  publicKey: Uint8Array;
}

export interface PqPrekeyInput {
  id: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** A prekey upload after validation: absent parts are left unchanged. */
export interface PrekeyUpload {
  signedPrekey?: SignedPrekeyInput | undefined;
  oneTimePrekeys: OneTimePrekeyInput[];
  pqPrekeys: PqPrekeyInput[];
  pqLastResortPrekey?: PqPrekeyInput | undefined;
}

export interface PrekeyCounts {
  oneTime: number;
  pqOneTime: number;
}

export interface DeviceIdentity {
  details: Uint8Array;
  accountSignature: Uint8Array;
  /** Empty until the companion counter-signed. */
  deviceSignature: Uint8Array;
}

export interface SignedDeviceList {
  list: Uint8Array;
  signature: Uint8Array;
}

export type DeviceStatus = 'ACTIVE' | 'REVOKED';

/** A device row as the services see it. */
export interface DeviceRecord {
  accountId: string;
  deviceId: number;
  isPrimary: boolean;
  identityKey: Uint8Array;
  registrationId: number;
  name: string;
  /** proto Platform enum value. */
  platform: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** Null while a companion is approved but has not completed linking. */
  linkedAt: Date | null;
  revokedAt: Date | null;
  identity: DeviceIdentity | null;
}

export type LinkStatus = 'PENDING' | 'APPROVED' | 'COMPLETED' | 'CANCELLED';

export interface LinkSessionRecord {
  id: string;
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  registrationId: number;
  name: string;
  platform: string;
  status: LinkStatus;
  createdAt: Date;
  expiresAt: Date;
  accountId: string | null;
  approvedByDeviceId: number | null;
  deviceId: number | null;
}

export interface DeviceBundle {
  deviceId: number;
  registrationId: number;
  identityKey: Uint8Array;
  signedPrekey: SignedPrekeyInput;
  oneTimePrekey?: OneTimePrekeyInput | undefined;
  pqPrekey: PqPrekeyInput;
  pqLastResort: boolean;
}

export type RevokeReason = 'UNLINKED_BY_PRIMARY' | 'UNLINKED_BY_SELF' | 'PRIMARY_INACTIVE';
