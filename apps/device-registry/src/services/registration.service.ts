import type { RegistryCrypto } from '../crypto/verifier.js';
import type { Clock } from '../domain/clock.js';
import type { CodeSender } from '../domain/code-sender.js';
import { codeMatches, generateCode, generateSalt, hashCode } from '../domain/codes.js';
import { RateLimitedError, RegistryError } from '../domain/errors.js';
import type { PrekeyUpload } from '../domain/types.js';
import * as v from '../domain/validation.js';
import type { AccountsRepository } from '../repositories/accounts.repository.js';
import { verifyKeySet } from './guards.js';

export interface RegistrationSettings {
  codeTtlMs: number;
  maxAttempts: number;
  requestsPerWindow: number;
  requestWindowMs: number;
}

export interface RegisterInput {
  handle: string;
  code: string;
  identityKey: Uint8Array;
  registrationId: number;
  name: string;
  platform: string;
  keys: PrekeyUpload;
}

export class RegistrationService {
  constructor(
    private readonly accounts: AccountsRepository,
    private readonly sender: CodeSender,
    private readonly crypto: RegistryCrypto,
    private readonly clock: Clock,
    private readonly settings: RegistrationSettings,
    private readonly newCode: () => string = generateCode,
  ) {}

  /** Sends a fresh code; returns its expiry. */
  async requestCode(rawHandle: string): Promise<Date> {
    const handle = v.handle(rawHandle);
    const now = this.clock.now();
    if (await this.accounts.handleExists(handle)) {
      throw new RegistryError('HANDLE_TAKEN', 'handle is already registered');
    }
    const since = new Date(now.getTime() - this.settings.requestWindowMs);
    if ((await this.accounts.countCodesSince(handle, since)) >= this.settings.requestsPerWindow) {
      throw new RateLimitedError(this.settings.requestWindowMs);
    }
    const code = this.newCode();
    const salt = generateSalt();
    const expiresAt = new Date(now.getTime() + this.settings.codeTtlMs);
    await this.accounts.saveCode(handle, salt, hashCode(salt, code), expiresAt, now);
    await this.sender.send(handle, code, expiresAt);
    return expiresAt;
  }

  /** Creates the account and its primary device (id 1) with its keys, all or nothing. */
  async verify(input: RegisterInput): Promise<{ accountId: string; deviceId: 1 }> {
    const handle = v.handle(input.handle);
    const code = v.verificationCode(input.code);
    const identityKey = v.keyOfLength('identityKey', input.identityKey, v.LIMITS.identityKeyBytes);
    const registrationId = v.uint32('registrationId', input.registrationId);
    const name = v.deviceName(input.name);
    const keys = v.fullPrekeySet(input.keys);
    verifyKeySet(this.crypto, identityKey, keys);

    const now = this.clock.now();
    const attempt = await this.accounts.reserveAttempt(handle, this.settings.maxAttempts, now);
    if (!attempt.ok) {
      if (attempt.reason === 'EXHAUSTED')
        throw new RegistryError('TOO_MANY_ATTEMPTS', 'too many wrong codes');
      throw new RegistryError('CODE_EXPIRED', 'no valid code for this handle; request one');
    }
    if (!codeMatches(attempt.code.salt, attempt.code.codeHash, code)) {
      throw new RegistryError('CODE_INVALID', 'wrong verification code', {
        attemptsLeft: Math.max(0, this.settings.maxAttempts - attempt.code.attempts),
      });
    }
    const result = await this.accounts.register(attempt.code.id, {
      handle,
      identityKey,
      registrationId,
      name,
      platform: input.platform,
      keys,
      now,
    });
    if (result === 'CODE_USED') throw new RegistryError('CODE_EXPIRED', 'the code was already used');
    if (result === 'HANDLE_TAKEN') throw new RegistryError('HANDLE_TAKEN', 'handle is already registered');
    return { accountId: result.accountId, deviceId: 1 };
  }

  async lookup(rawHandle: string): Promise<string> {
    const handle = v.handle(rawHandle);
    const id = await this.accounts.findAccountIdByHandle(handle);
    if (!id) throw new RegistryError('ACCOUNT_NOT_FOUND', 'no account with this handle');
    return id;
  }
}
