/**
 * The send check (DESIGN invariant 5): a send must carry exactly one copy per current device of
 * the recipient account plus one per other current device of the sender's own account. Pure
 * functions over small internal types, so the rule is unit-tested on its own.
 */

export interface Address {
  accountId: string;
  deviceId: number;
}

/** An account's active devices: device id -> registration id. */
export type DeviceSet = ReadonlyMap<number, number>;

export interface CopyTarget extends Address {
  registrationId: number;
}

export type DeviceSetCheck =
  | { kind: 'ok' }
  | { kind: 'mismatch'; missing: Address[]; extra: Address[] }
  | { kind: 'stale'; stale: Address[] };

const byAddress = (a: Address, b: Address) =>
  a.accountId === b.accountId ? a.deviceId - b.deviceId : a.accountId < b.accountId ? -1 : 1;

/**
 * Compares the copies with the expected devices: the recipient account's set and the sender
 * account's set without the sending device (the two accounts may be the same). Mismatch
 * (missing/extra) wins over stale registration ids, as in Signal's 409-before-410.
 */
export function checkDeviceSet(
  sender: Address,
  recipientAccountId: string,
  copies: readonly CopyTarget[],
  lists: ReadonlyMap<string, DeviceSet>,
): DeviceSetCheck {
  const expected = new Map<string, { address: Address; registrationId: number }>();
  const addAccount = (accountId: string) => {
    const set = lists.get(accountId);
    if (!set) return;
    for (const [deviceId, registrationId] of set) {
      if (accountId === sender.accountId && deviceId === sender.deviceId) continue;
      expected.set(`${accountId}/${deviceId}`, { address: { accountId, deviceId }, registrationId });
    }
  };
  addAccount(recipientAccountId);
  if (sender.accountId !== recipientAccountId) addAccount(sender.accountId);

  const extra: Address[] = [];
  const stale: Address[] = [];
  const covered = new Set<string>();
  for (const copy of copies) {
    const key = `${copy.accountId}/${copy.deviceId}`;
    const want = expected.get(key);
    if (!want) {
      extra.push({ accountId: copy.accountId, deviceId: copy.deviceId });
      continue;
    }
    covered.add(key);
    if (want.registrationId !== copy.registrationId) stale.push(want.address);
  }
  const missing = [...expected].filter(([key]) => !covered.has(key)).map(([, v]) => v.address);
  if (missing.length > 0 || extra.length > 0) {
    return { kind: 'mismatch', missing: missing.sort(byAddress), extra: extra.sort(byAddress) };
  }
  if (stale.length > 0) return { kind: 'stale', stale: stale.sort(byAddress) };
  return { kind: 'ok' };
}

/**
 * The check of a single-device send (Send.single_device: a retry request or its resend): exactly
 * one copy, addressed to `recipientAccountId`, for a current device of that account other than
 * the sender. A device that is not current is `extra` (the client stops retrying); a changed
 * registration id is `stale`.
 */
export function checkSingleDevice(
  sender: Address,
  recipientAccountId: string,
  copies: readonly CopyTarget[],
  lists: ReadonlyMap<string, DeviceSet>,
): DeviceSetCheck {
  const extra = copies.filter(
    (c, i) =>
      i > 0 ||
      c.accountId !== recipientAccountId ||
      (c.accountId === sender.accountId && c.deviceId === sender.deviceId) ||
      !lists.get(recipientAccountId)?.has(c.deviceId),
  );
  if (extra.length > 0) {
    return {
      kind: 'mismatch',
      missing: [],
      extra: extra.map((c) => ({ accountId: c.accountId, deviceId: c.deviceId })).sort(byAddress),
    };
  }
  const only = copies[0]!;
  if (lists.get(recipientAccountId)?.get(only.deviceId) !== only.registrationId) {
    return { kind: 'stale', stale: [{ accountId: only.accountId, deviceId: only.deviceId }] };
  }
  return { kind: 'ok' };
}
