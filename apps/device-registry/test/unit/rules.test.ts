import { describe, expect, it } from '@jest/globals';
import { DeviceLimitError, RegistryError } from '../../src/domain/errors.js';
import { assertCompanionSlotFree, assertListMatches, assertSessionUsable } from '../../src/domain/rules.js';
import type { DeviceRecord, LinkSessionRecord } from '../../src/domain/types.js';

const key = (n: number) => new Uint8Array(32).fill(n);
const ACCOUNT = '11111111-1111-4111-8111-111111111111';
const device = (deviceId: number, revoked = false): DeviceRecord => ({
  accountId: ACCOUNT,
  deviceId,
  isPrimary: deviceId === 1,
  identityKey: key(deviceId),
  registrationId: 1,
  name: 'd',
  platform: 'WEB',
  createdAt: new Date(0),
  lastSeenAt: new Date(0),
  linkedAt: new Date(0),
  revokedAt: revoked ? new Date(0) : null,
  identity: null,
});
const session = (status: LinkSessionRecord['status'], expiresAt: number): LinkSessionRecord => ({
  id: 'l',
  identityKey: key(9),
  ephemeralKey: key(8),
  registrationId: 1,
  name: 'web',
  platform: 'WEB',
  status,
  createdAt: new Date(0),
  expiresAt: new Date(expiresAt),
  accountId: null,
  approvedByDeviceId: null,
  deviceId: null,
});
const codeOf = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return (err as RegistryError).code;
  }
  return 'none';
};

describe('linking rules', () => {
  it('allows a fourth companion and refuses a fifth, reporting how many are linked', () => {
    expect(() => assertCompanionSlotFree([device(1), device(2), device(3), device(4)])).not.toThrow();
    const full = [device(1), device(2), device(3), device(4), device(5)];
    expect(() => assertCompanionSlotFree(full)).toThrow(DeviceLimitError);
    try {
      assertCompanionSlotFree(full);
    } catch (err) {
      expect((err as DeviceLimitError).details).toEqual({ linked: 4, max: 4 });
    }
  });

  it('does not count revoked companions', () => {
    expect(() =>
      assertCompanionSlotFree([device(1), device(2, true), device(3), device(4), device(5)]),
    ).not.toThrow();
  });

  it('refuses expired, reused and not-yet-approved sessions', () => {
    const now = new Date(1000);
    expect(codeOf(() => assertSessionUsable(session('PENDING', 2000), 'PENDING', now))).toBe('none');
    expect(codeOf(() => assertSessionUsable(session('PENDING', 1000), 'PENDING', now))).toBe('LINK_EXPIRED');
    expect(codeOf(() => assertSessionUsable(session('APPROVED', 2000), 'PENDING', now))).toBe(
      'LINK_ALREADY_USED',
    );
    expect(codeOf(() => assertSessionUsable(session('COMPLETED', 2000), 'APPROVED', now))).toBe(
      'LINK_ALREADY_USED',
    );
    expect(codeOf(() => assertSessionUsable(session('CANCELLED', 2000), 'APPROVED', now))).toBe(
      'LINK_ALREADY_USED',
    );
    expect(codeOf(() => assertSessionUsable(session('PENDING', 2000), 'APPROVED', now))).toBe('FORBIDDEN');
  });

  it('accepts a signed list only with exactly the expected devices and a newer version', () => {
    const expected = [device(1), device(3)];
    const list = (ids: number[], version = 2n, accountId = ACCOUNT) => ({
      accountId,
      version,
      devices: ids.map((id) => ({ deviceId: id, identityKey: key(id) })),
    });
    expect(codeOf(() => assertListMatches(list([1, 3]), ACCOUNT, expected, 1n))).toBe('none');
    expect(codeOf(() => assertListMatches(list([1, 3]), ACCOUNT, expected, null))).toBe('none');
    expect(codeOf(() => assertListMatches(list([1]), ACCOUNT, expected, 1n))).toBe('CONFLICT');
    expect(codeOf(() => assertListMatches(list([1, 3, 4]), ACCOUNT, expected, 1n))).toBe('CONFLICT');
    expect(codeOf(() => assertListMatches(list([1, 3], 1n), ACCOUNT, expected, 1n))).toBe('CONFLICT');
    expect(
      codeOf(() =>
        assertListMatches(list([1, 3], 2n, '22222222-2222-4222-8222-222222222222'), ACCOUNT, expected, 1n),
      ),
    ).toBe('INVALID_ARGUMENT');
    const wrongKey = {
      ...list([1, 3]),
      devices: [
        { deviceId: 1, identityKey: key(1) },
        { deviceId: 3, identityKey: key(7) },
      ],
    };
    expect(codeOf(() => assertListMatches(wrongKey, ACCOUNT, expected, 1n))).toBe('CONFLICT');
  });
});
