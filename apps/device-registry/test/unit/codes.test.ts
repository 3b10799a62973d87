import { describe, expect, it } from '@jest/globals';
import { codeMatches, generateCode, generateSalt, hashCode } from '../../src/domain/codes.js';

describe('verification codes', () => {
  it('are six digits', () => {
    for (let i = 0; i < 200; i++) expect(generateCode()).toMatch(/^[0-9]{6}$/);
  });

  it('are stored as a salted hash that matches only the same code', () => {
    const salt = generateSalt();
    const stored = hashCode(salt, '123456');
    expect(Buffer.from(stored).toString('hex')).not.toContain(Buffer.from('123456').toString('hex'));
    expect(codeMatches(salt, stored, '123456')).toBe(true);
    expect(codeMatches(salt, stored, '123457')).toBe(false);
    expect(codeMatches(generateSalt(), stored, '123456')).toBe(false);
  });
});
