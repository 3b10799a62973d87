// RFC 7748 §5.2: the 1000-iteration X25519 vector (slow in pure JS, so kept apart).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { x25519 } from '@noble/curves/ed25519.js';
import { fromHex, hex } from '../helpers.js';

const V = JSON.parse(readFileSync(new URL('../vectors/published.json', import.meta.url), 'utf8'));

describe('X25519 iterated (RFC 7748 §5.2)', () => {
  it('1000 iterations', () => {
    let k: Uint8Array = fromHex(`09${'00'.repeat(31)}`);
    let u: Uint8Array = k.slice();
    for (let i = 1; i <= 1000; i++) {
      const next = x25519.scalarMult(k, u);
      u = k;
      k = next;
    }
    expect(hex(k)).toBe(V.x25519.iterated['1000']);
  });
});
