import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tandem/service-kit';
import { loadRegistryConfig } from '../../src/config.js';

const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x' };

describe('registry config', () => {
  it('has the documented defaults', () => {
    const c = loadRegistryConfig(base);
    expect(c).toMatchObject({
      LINK_SESSION_TTL_MS: 300_000,
      VERIFICATION_CODE_TTL_MS: 600_000,
      VERIFICATION_MAX_ATTEMPTS: 5,
      COMPANION_INACTIVITY_DAYS: 14,
      PREKEY_LOW_THRESHOLD: 10,
      CLAIM_RATE_CAPACITY: 100,
      CLAIM_RATE_REFILL_PER_SEC: 1,
    });
  });

  it.each([
    ['LINK_SESSION_TTL_MS', '0'],
    ['VERIFICATION_CODE_TTL_MS', 'ten minutes'],
    ['COMPANION_INACTIVITY_DAYS', '0'],
    ['CLAIM_RATE_REFILL_PER_SEC', '-1'],
    ['PREKEY_LOW_THRESHOLD', '1.5'],
  ])('refuses a bad %s naming it', (variable, value) => {
    expect(() => loadRegistryConfig({ ...base, [variable]: value })).toThrow(ConfigError);
    expect(() => loadRegistryConfig({ ...base, [variable]: value })).toThrow(variable);
  });
});
