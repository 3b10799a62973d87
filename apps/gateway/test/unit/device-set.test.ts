import { describe, expect, it } from '@jest/globals';
import { checkDeviceSet, checkSingleDevice, type DeviceSet } from '../../src/services/device-set.js';

const ALICE = 'aaaaaaaa-0000-4000-8000-000000000000';
const BOB = 'bbbbbbbb-0000-4000-8000-000000000000';
const lists = new Map<string, DeviceSet>([
  [
    ALICE,
    new Map([
      [1, 11],
      [2, 12],
    ]),
  ],
  [
    BOB,
    new Map([
      [1, 21],
      [3, 23],
    ]),
  ],
]);
const sender = { accountId: ALICE, deviceId: 1 };

describe('checkDeviceSet', () => {
  it("accepts exactly the recipient's devices plus the sender's other devices", () => {
    const copies = [
      { accountId: BOB, deviceId: 1, registrationId: 21 },
      { accountId: BOB, deviceId: 3, registrationId: 23 },
      { accountId: ALICE, deviceId: 2, registrationId: 12 },
    ];
    expect(checkDeviceSet(sender, BOB, copies, lists)).toEqual({ kind: 'ok' });
  });

  it('names missing and extra devices, including a copy to the sending device itself', () => {
    const copies = [
      { accountId: BOB, deviceId: 1, registrationId: 21 },
      { accountId: BOB, deviceId: 2, registrationId: 22 },
      { accountId: ALICE, deviceId: 1, registrationId: 11 },
    ];
    expect(checkDeviceSet(sender, BOB, copies, lists)).toEqual({
      kind: 'mismatch',
      missing: [
        { accountId: ALICE, deviceId: 2 },
        { accountId: BOB, deviceId: 3 },
      ],
      extra: [
        { accountId: ALICE, deviceId: 1 },
        { accountId: BOB, deviceId: 2 },
      ],
    });
  });

  it('reports stale registration ids only when the set itself matches', () => {
    const copies = [
      { accountId: BOB, deviceId: 1, registrationId: 99 },
      { accountId: BOB, deviceId: 3, registrationId: 23 },
      { accountId: ALICE, deviceId: 2, registrationId: 12 },
    ];
    expect(checkDeviceSet(sender, BOB, copies, lists)).toEqual({
      kind: 'stale',
      stale: [{ accountId: BOB, deviceId: 1 }],
    });
  });

  it('handles a send to the own account (sync to the other own devices)', () => {
    expect(
      checkDeviceSet(sender, ALICE, [{ accountId: ALICE, deviceId: 2, registrationId: 12 }], lists),
    ).toEqual({
      kind: 'ok',
    });
    expect(checkDeviceSet(sender, ALICE, [], lists)).toEqual({
      kind: 'mismatch',
      missing: [{ accountId: ALICE, deviceId: 2 }],
      extra: [],
    });
  });

  it('treats copies to a third account as extra', () => {
    const other = 'cccccccc-0000-4000-8000-000000000000';
    const copies = [
      { accountId: BOB, deviceId: 1, registrationId: 21 },
      { accountId: BOB, deviceId: 3, registrationId: 23 },
      { accountId: ALICE, deviceId: 2, registrationId: 12 },
      { accountId: other, deviceId: 1, registrationId: 1 },
    ];
    const result = checkDeviceSet(sender, BOB, copies, lists);
    expect(result).toEqual({ kind: 'mismatch', missing: [], extra: [{ accountId: other, deviceId: 1 }] });
  });
});

describe('checkSingleDevice (retry requests and resends)', () => {
  it('accepts one copy to one current device of the recipient account, own account included', () => {
    expect(
      checkSingleDevice(sender, BOB, [{ accountId: BOB, deviceId: 3, registrationId: 23 }], lists),
    ).toEqual({
      kind: 'ok',
    });
    expect(
      checkSingleDevice(sender, ALICE, [{ accountId: ALICE, deviceId: 2, registrationId: 12 }], lists),
    ).toEqual({ kind: 'ok' });
  });

  it('refuses a second copy, another account, the sending device itself and a device that is not current', () => {
    const two = [
      { accountId: BOB, deviceId: 1, registrationId: 21 },
      { accountId: BOB, deviceId: 3, registrationId: 23 },
    ];
    expect(checkSingleDevice(sender, BOB, two, lists)).toEqual({
      kind: 'mismatch',
      missing: [],
      extra: [{ accountId: BOB, deviceId: 3 }],
    });
    expect(
      checkSingleDevice(sender, BOB, [{ accountId: ALICE, deviceId: 2, registrationId: 12 }], lists),
    ).toEqual({
      kind: 'mismatch',
      missing: [],
      extra: [{ accountId: ALICE, deviceId: 2 }],
    });
    expect(
      checkSingleDevice(sender, ALICE, [{ accountId: ALICE, deviceId: 1, registrationId: 11 }], lists),
    ).toEqual({ kind: 'mismatch', missing: [], extra: [{ accountId: ALICE, deviceId: 1 }] });
    expect(
      checkSingleDevice(sender, BOB, [{ accountId: BOB, deviceId: 2, registrationId: 22 }], lists),
    ).toEqual({
      kind: 'mismatch',
      missing: [],
      extra: [{ accountId: BOB, deviceId: 2 }],
    });
  });

  it('reports a changed registration id as stale', () => {
    expect(
      checkSingleDevice(sender, BOB, [{ accountId: BOB, deviceId: 1, registrationId: 99 }], lists),
    ).toEqual({
      kind: 'stale',
      stale: [{ accountId: BOB, deviceId: 1 }],
    });
  });
});
