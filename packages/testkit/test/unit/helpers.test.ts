// The service-free parts of testkit: the isolation token every database name, Redis prefix and
// NATS subject prefix is built from, and the polling helper tests wait with.
import { describe, expect, it } from '@jest/globals';
import { uniqueToken, waitFor } from '../../src/index.js';

describe('uniqueToken', () => {
  it('is safe as a Postgres database name part, a Redis key part and a NATS subject token', () => {
    for (let i = 0; i < 200; i++) expect(uniqueToken()).toMatch(/^[a-z0-9]{8,20}$/);
  });

  it('does not repeat across many calls in one millisecond-dense burst', () => {
    const tokens = new Set(Array.from({ length: 5000 }, () => uniqueToken()));
    expect(tokens.size).toBe(5000);
  });
});

describe('waitFor', () => {
  it('resolves with the first value that is neither undefined nor false, sync or async', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).resolves.toBe(3);
    let m = 0;
    await expect(waitFor(async () => (++m >= 2 ? 'ready' : false), { intervalMs: 1 })).resolves.toBe('ready');
    await expect(waitFor(() => 0)).resolves.toBe(0); // 0 is a value, not "not yet"
  });

  it('fails after the timeout naming what it waited for', async () => {
    await expect(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: 'the moon' })).rejects.toThrow(
      'timed out after 30 ms waiting for the moon',
    );
  });

  it('passes on a check that throws instead of retrying it', async () => {
    await expect(
      waitFor(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });
});
