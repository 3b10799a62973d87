import type { CopyMeta, DeviceAddress, PendingReceipt } from '../domain.js';

/**
 * Storage encoding of a copy's meta (JSON, private to delivery; short field names keep it small).
 * Pure; unit-tested.
 */
interface StoredMeta {
  t: 'm' | 'r';
  // message
  s?: [string, number];
  c: string;
  e?: number;
  a: number;
  // receipt
  k?: 'd' | 'e';
  r?: [string, number];
  i?: string;
}

const addr = (a: DeviceAddress): [string, number] => [a.accountId, a.deviceId];
const fromAddr = (a: [string, number] | undefined): DeviceAddress => {
  if (!Array.isArray(a) || typeof a[0] !== 'string' || typeof a[1] !== 'number') {
    throw new TypeError('stored meta: bad address');
  }
  return { accountId: a[0], deviceId: a[1] };
};

export function encodeMeta(meta: CopyMeta): string {
  const stored: StoredMeta =
    meta.kind === 'message'
      ? { t: 'm', s: addr(meta.sender), c: meta.clientMessageId, e: meta.envelopeType, a: meta.acceptedAtMs }
      : {
          t: 'r',
          k: meta.receipt === 'delivered' ? 'd' : 'e',
          c: meta.clientMessageId,
          r: addr(meta.recipient),
          i: meta.copyServerId,
          a: meta.atMs,
        };
  return JSON.stringify(stored);
}

export function decodeMeta(json: string): CopyMeta {
  const m = JSON.parse(json) as StoredMeta;
  if (m.t === 'm') {
    return {
      kind: 'message',
      sender: fromAddr(m.s),
      clientMessageId: String(m.c),
      envelopeType: Number(m.e ?? 0),
      acceptedAtMs: Number(m.a),
    };
  }
  if (m.t === 'r') {
    return {
      kind: 'receipt',
      receipt: m.k === 'd' ? 'delivered' : 'expired',
      clientMessageId: String(m.c),
      recipient: fromAddr(m.r),
      copyServerId: String(m.i),
      atMs: Number(m.a),
    };
  }
  throw new TypeError('stored meta: unknown kind');
}

/** Reads an outbox entry body ('d|<meta>' delivered, 'e|<meta>' expired) of a device's queue. */
export function decodeOutboxEntry(
  recipient: DeviceAddress,
  copyServerId: string,
  body: string,
): PendingReceipt | undefined {
  const kind = body.slice(0, 2);
  if (kind !== 'd|' && kind !== 'e|') return undefined;
  let original: CopyMeta;
  try {
    original = decodeMeta(body.slice(2));
  } catch {
    return undefined;
  }
  if (original.kind !== 'message') return undefined;
  return { copyServerId, receipt: kind === 'd|' ? 'delivered' : 'expired', recipient, original };
}
