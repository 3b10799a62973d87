import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { runSimultaneous, stepsArb } from '../simultaneous.js';

describe('simultaneous first messages (slow)', () => {
  it('10 devices in 5 accounts all start writing at the same instant; every message decrypts exactly once, over many seeds', () => {
    const devices = 10;
    const ids = [...Array(devices).keys()];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(ids, { minLength: devices, maxLength: devices }),
        stepsArb(devices, 120),
        fc.array(fc.nat(), { minLength: 1, maxLength: 50 }),
        (order, steps, picks) => {
          const { messages, decrypted } = runSimultaneous(5, 2, order, steps, picks);
          expect(decrypted).toBe(messages);
        },
      ),
      { numRuns: 12 },
    );
  }, 600_000);

  it('property: 4 devices in 2 accounts starting at once, any delivery order: every message decrypts once', () => {
    const devices = 4;
    fc.assert(
      fc.property(
        fc.shuffledSubarray([0, 1, 2, 3], { minLength: devices, maxLength: devices }),
        stepsArb(devices, 30),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        (order, steps, picks) => {
          const { messages, decrypted } = runSimultaneous(2, 2, order, steps, picks);
          expect(decrypted).toBe(messages);
        },
      ),
      { numRuns: 20 },
    );
  }, 300_000);
});
