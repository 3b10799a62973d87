// The README's example is examples/quickstart.ts verbatim, and it runs.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { quickstart } from '../../examples/quickstart.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('README example', () => {
  it('is the README code block, verbatim', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = readFileSync(join(root, 'examples', 'quickstart.ts'), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toContain(example);
  });

  it('runs', () => {
    expect(quickstart()).toEqual({
      subject: 'tandem.v1.registry.get_device device 2',
      result: 'error for request 7',
      rejected: 'INVALID_ARGUMENT at ClientFrame.request_id',
    });
  });
});
