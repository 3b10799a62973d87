import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { computeKat } from '../kat/compute.js';

describe('Tandem v1 known answers', () => {
  it('recomputes test/kat/tandem-v1.json exactly (any format change fails here)', () => {
    const expected = JSON.parse(readFileSync(new URL('../kat/tandem-v1.json', import.meta.url), 'utf8'));
    expect(JSON.parse(JSON.stringify(computeKat()))).toEqual(expected);
  });
});
