import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { quickstart } from '../../examples/quickstart.js';

describe('README example', () => {
  it('runs end to end', async () => {
    const out = await quickstart();
    expect(out.received).toBe('hi Bob');
    expect(out.history).toBe('old messages');
    expect(out.safety).toMatch(/^[0-9]{60}$/);
  });

  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/quickstart.ts', import.meta.url), 'utf8');
    const body = example.slice(example.indexOf('export async function quickstart'));
    expect(readme).toContain(body.trim());
  });
});
