import { describe, expect, it } from '@jest/globals';
import { ForwardedWindow } from '../../src/connection/forwarded-window.js';

describe('ForwardedWindow', () => {
  it('remembers the last `capacity` ids and forgets the oldest first', () => {
    const w = new ForwardedWindow(3);
    expect(['a', 'b', 'c'].map((id) => w.add(id))).toEqual([true, true, true]);
    expect(w.add('b')).toBe(false);
    expect(w.add('d')).toBe(true); // evicts a
    expect(w.has('a')).toBe(false);
    expect(['b', 'c', 'd'].every((id) => w.has(id))).toBe(true);
    expect(w.add('a')).toBe(true); // evicts b
    expect(w.has('b')).toBe(false);
    expect(w.size).toBe(3);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new ForwardedWindow(0)).toThrow(RangeError);
  });
});
