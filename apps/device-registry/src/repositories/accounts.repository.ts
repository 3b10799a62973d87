import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/prisma.js';
import type { PrekeyUpload } from '../domain/types.js';
import { Prisma } from '../generated/prisma/client.js';
import { bytes } from './mappers.js';
import { insertKeySet } from './prekeys.repository.js';

export interface StoredCode {
  id: string;
  salt: Uint8Array;
  codeHash: Uint8Array;
  attempts: number;
  expiresAt: Date;
}

export interface NewPrimaryDevice {
  handle: string;
  identityKey: Uint8Array;
  registrationId: number;
  name: string;
  platform: string;
  keys: Required<PrekeyUpload>;
  now: Date;
}

export type ReserveAttempt =
  | { ok: true; code: StoredCode }
  | { ok: false; reason: 'NO_CODE' | 'EXPIRED' | 'EXHAUSTED' };

export interface AccountsRepository {
  handleExists(handle: string): Promise<boolean>;
  findAccountIdByHandle(handle: string): Promise<string | null>;
  /** Codes created for the handle at or after `since` (the request-code rate limit). */
  countCodesSince(handle: string, since: Date): Promise<number>;
  saveCode(handle: string, salt: Uint8Array, codeHash: Uint8Array, expiresAt: Date, now: Date): Promise<void>;
  /**
   * Counts one attempt against the handle's latest unused code before the guess is compared, so
   * concurrent guesses can never exceed `maxAttempts` comparisons.
   */
  reserveAttempt(handle: string, maxAttempts: number, now: Date): Promise<ReserveAttempt>;
  /**
   * In one transaction: consumes the code (false if it was consumed meanwhile), creates the account
   * and its primary device (device id 1) with its keys. Null when the code was already used;
   * 'HANDLE_TAKEN' when the handle got registered meanwhile.
   */
  register(
    codeId: string,
    device: NewPrimaryDevice,
  ): Promise<{ accountId: string } | 'CODE_USED' | 'HANDLE_TAKEN'>;
}

export class PrismaAccountsRepository implements AccountsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async handleExists(handle: string): Promise<boolean> {
    return (await this.prisma.account.count({ where: { handle } })) > 0;
  }

  async findAccountIdByHandle(handle: string): Promise<string | null> {
    const row = await this.prisma.account.findUnique({ where: { handle }, select: { id: true } });
    return row?.id ?? null;
  }

  countCodesSince(handle: string, since: Date): Promise<number> {
    return this.prisma.verificationCode.count({ where: { handle, createdAt: { gte: since } } });
  }

  async saveCode(
    handle: string,
    salt: Uint8Array,
    codeHash: Uint8Array,
    expiresAt: Date,
    now: Date,
  ): Promise<void> {
    await this.prisma.verificationCode.create({
      data: {
        id: randomUUID(),
        handle,
        salt: bytes(salt),
        codeHash: bytes(codeHash),
        expiresAt,
        createdAt: now,
      },
    });
  }

  async reserveAttempt(handle: string, maxAttempts: number, now: Date): Promise<ReserveAttempt> {
    const latest = await this.prisma.verificationCode.findFirst({
      where: { handle, consumedAt: null },
      orderBy: { createdAt: 'desc' },
    });
    if (!latest) return { ok: false, reason: 'NO_CODE' };
    if (latest.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'EXPIRED' };
    const updated = await this.prisma.verificationCode.updateMany({
      where: { id: latest.id, consumedAt: null, attempts: { lt: maxAttempts } },
      data: { attempts: { increment: 1 } },
    });
    if (updated.count === 0) return { ok: false, reason: 'EXHAUSTED' };
    return { ok: true, code: { ...latest, attempts: latest.attempts + 1 } };
  }

  async register(
    codeId: string,
    d: NewPrimaryDevice,
  ): Promise<{ accountId: string } | 'CODE_USED' | 'HANDLE_TAKEN'> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const consumed = await tx.verificationCode.updateMany({
          where: { id: codeId, consumedAt: null },
          data: { consumedAt: d.now },
        });
        if (consumed.count === 0) return 'CODE_USED' as const;
        const accountId = randomUUID();
        await tx.account.create({ data: { id: accountId, handle: d.handle, createdAt: d.now } });
        await tx.device.create({
          data: {
            accountId,
            deviceId: 1,
            isPrimary: true,
            identityKey: bytes(d.identityKey),
            registrationId: d.registrationId,
            name: d.name,
            platform: d.platform,
            createdAt: d.now,
            lastSeenAt: d.now,
            linkedAt: d.now,
          },
        });
        await insertKeySet(tx, { accountId, deviceId: 1 }, d.keys);
        return { accountId };
      });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return 'HANDLE_TAKEN';
      throw err;
    }
  }
}
