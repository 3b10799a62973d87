import { beforeEach, describe, expect, it } from '@jest/globals';
import type { RegistryCrypto } from '../../src/crypto/verifier.js';
import { ManualClock } from '../../src/domain/clock.js';
import { InMemoryCodeSender } from '../../src/domain/code-sender.js';
import type { RegistryError } from '../../src/domain/errors.js';
import type {
  AccountsRepository,
  NewPrimaryDevice,
  ReserveAttempt,
  StoredCode,
} from '../../src/repositories/accounts.repository.js';
import { RegistrationService } from '../../src/services/registration.service.js';

/** An in-memory AccountsRepository with the same contract as the Prisma one. */
class FakeAccounts implements AccountsRepository {
  codes: (StoredCode & { handle: string; createdAt: Date; consumed: boolean })[] = [];
  accounts = new Map<string, NewPrimaryDevice>();
  async handleExists(handle: string) {
    return this.accounts.has(handle);
  }
  async findAccountIdByHandle(handle: string) {
    return this.accounts.has(handle) ? `id-${handle}` : null;
  }
  async countCodesSince(handle: string, since: Date) {
    return this.codes.filter((c) => c.handle === handle && c.createdAt >= since).length;
  }
  async saveCode(handle: string, salt: Uint8Array, codeHash: Uint8Array, expiresAt: Date, now: Date) {
    this.codes.push({
      id: `c${this.codes.length}`,
      handle,
      salt,
      codeHash,
      attempts: 0,
      expiresAt,
      createdAt: now,
      consumed: false,
    });
  }
  async reserveAttempt(handle: string, max: number, now: Date): Promise<ReserveAttempt> {
    const latest = this.codes.filter((c) => c.handle === handle && !c.consumed).at(-1);
    if (!latest) return { ok: false, reason: 'NO_CODE' };
    if (latest.expiresAt <= now) return { ok: false, reason: 'EXPIRED' };
    if (latest.attempts >= max) return { ok: false, reason: 'EXHAUSTED' };
    latest.attempts += 1;
    return { ok: true, code: { ...latest } };
  }
  async register(codeId: string, d: NewPrimaryDevice) {
    const code = this.codes.find((c) => c.id === codeId)!;
    if (code.consumed) return 'CODE_USED' as const;
    if (this.accounts.has(d.handle)) return 'HANDLE_TAKEN' as const;
    code.consumed = true;
    this.accounts.set(d.handle, d);
    return { accountId: `id-${d.handle}` };
  }
}

const acceptAll: RegistryCrypto = {
  verifySignedPrekey: () => true,
  verifyPqPrekey: () => true,
  validPqPublicKey: () => true,
  verifyAccountSignature: () => true,
  verifyDeviceSignature: () => true,
  decodeDetails: () => null,
  openDeviceList: () => 'MALFORMED',
};

const bytes = (n: number) => new Uint8Array(n).fill(3);
const input = (handle: string, code: string) => ({
  handle,
  code,
  identityKey: bytes(32),
  registrationId: 5,
  name: 'phone',
  platform: 'IOS',
  keys: {
    signedPrekey: { id: 1, publicKey: bytes(32), signature: bytes(64) },
    oneTimePrekeys: [],
    pqPrekeys: [],
    pqLastResortPrekey: { id: 1, publicKey: bytes(1184), signature: bytes(64) },
  },
});
const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: RegistryError) => e.code,
  );

describe('RegistrationService (fake repository, manual clock)', () => {
  let repo: FakeAccounts;
  let sender: InMemoryCodeSender;
  let clock: ManualClock;
  let service: RegistrationService;
  beforeEach(() => {
    repo = new FakeAccounts();
    sender = new InMemoryCodeSender();
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    service = new RegistrationService(repo, sender, acceptAll, clock, {
      codeTtlMs: 60_000,
      maxAttempts: 2,
      requestsPerWindow: 2,
      requestWindowMs: 600_000,
    });
  });

  it('accepts the code until it expires, not a millisecond after', async () => {
    const expires = await service.requestCode('alice');
    expect(expires.getTime()).toBe(clock.now().getTime() + 60_000);
    clock.advance(60_000);
    expect(await codeOf(service.verify(input('alice', sender.sent.get('alice')!)))).toBe('CODE_EXPIRED');
    clock.advance(600_000);
    await service.requestCode('alice');
    clock.advance(59_999);
    expect(await service.verify(input('alice', sender.sent.get('alice')!))).toEqual({
      accountId: 'id-alice',
      deviceId: 1,
    });
  });

  it('allows `maxAttempts` guesses per code, then refuses even the right code', async () => {
    await service.requestCode('bob');
    const right = sender.sent.get('bob')!;
    const wrong = right === '999999' ? '000000' : '999999';
    expect(await codeOf(service.verify(input('bob', wrong)))).toBe('CODE_INVALID');
    expect(await codeOf(service.verify(input('bob', wrong)))).toBe('CODE_INVALID');
    expect(await codeOf(service.verify(input('bob', right)))).toBe('TOO_MANY_ATTEMPTS');
    expect(repo.accounts.size).toBe(0);
  });

  it('limits code requests per handle within the window, and allows them again after it', async () => {
    await service.requestCode('carol');
    await service.requestCode('carol');
    expect(await codeOf(service.requestCode('carol'))).toBe('RATE_LIMITED');
    expect(await codeOf(service.requestCode('dave'))).toBe('ok');
    clock.advance(600_001);
    expect(await codeOf(service.requestCode('carol'))).toBe('ok');
  });

  it('never stores the code itself', async () => {
    await service.requestCode('erin');
    const code = sender.sent.get('erin')!;
    const stored = repo.codes[0]!;
    expect(Buffer.from(stored.codeHash).toString('latin1')).not.toContain(code);
    expect(JSON.stringify(stored)).not.toContain(code);
  });

  it('refuses a code once the account exists, and a second request for the handle', async () => {
    await service.requestCode('frank');
    const code = sender.sent.get('frank')!;
    await service.verify(input('frank', code));
    expect(await codeOf(service.verify(input('frank', code)))).toBe('CODE_EXPIRED');
    expect(await codeOf(service.requestCode('frank'))).toBe('HANDLE_TAKEN');
  });
});
