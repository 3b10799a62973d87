/**
 * The raw floor's wire format: binary frames, first byte = type. Just enough for the same
 * workloads (hello, send with per-device copies, deliver, ack, queue empty); no auth, no protobuf.
 */
export const F = {
  HELLO: 1,
  SEND: 2,
  ACK: 3,
  READY: 0x81,
  DELIVER: 0x82,
  SENT: 0x83,
  ACKED: 0x84,
  QUEUE_EMPTY: 0x85,
} as const;

/** Server ids are UUIDs: 36 ASCII bytes. */
export const ID_LEN = 36;

export function encodeHello(accountId: string, deviceId: number): Buffer {
  const acc = Buffer.from(accountId, 'ascii');
  const b = Buffer.allocUnsafe(2 + acc.length + 4);
  b[0] = F.HELLO;
  b[1] = acc.length;
  acc.copy(b, 2);
  b.writeUInt32BE(deviceId, 2 + acc.length);
  return b;
}

export function decodeHello(b: Buffer): { accountId: string; deviceId: number } {
  const n = b[1]!;
  return { accountId: b.toString('ascii', 2, 2 + n), deviceId: b.readUInt32BE(2 + n) };
}

export interface FloorCopy {
  accountId: string;
  deviceId: number;
  payload: Uint8Array;
}

export function encodeSend(requestId: number, copies: readonly FloorCopy[]): Buffer {
  let size = 7;
  for (const c of copies) size += 1 + c.accountId.length + 4 + 2 + c.payload.length;
  const b = Buffer.allocUnsafe(size);
  b[0] = F.SEND;
  b.writeUInt32BE(requestId, 1);
  b.writeUInt16BE(copies.length, 5);
  let o = 7;
  for (const c of copies) {
    b[o++] = c.accountId.length;
    o += b.write(c.accountId, o, 'ascii');
    b.writeUInt32BE(c.deviceId, o);
    o += 4;
    b.writeUInt16BE(c.payload.length, o);
    o += 2;
    b.set(c.payload, o);
    o += c.payload.length;
  }
  return b;
}

export function decodeSend(b: Buffer): { requestId: number; copies: FloorCopy[] } {
  const requestId = b.readUInt32BE(1);
  const n = b.readUInt16BE(5);
  const copies: FloorCopy[] = [];
  let o = 7;
  for (let i = 0; i < n; i++) {
    const al = b[o++]!;
    const accountId = b.toString('ascii', o, o + al);
    o += al;
    const deviceId = b.readUInt32BE(o);
    o += 4;
    const len = b.readUInt16BE(o);
    o += 2;
    copies.push({ accountId, deviceId, payload: b.subarray(o, o + len) });
    o += len;
  }
  return { requestId, copies };
}

export function encodeDeliver(serverId: string, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(1 + ID_LEN + payload.length);
  b[0] = F.DELIVER;
  b.write(serverId, 1, 'ascii');
  b.set(payload, 1 + ID_LEN);
  return b;
}

export function encodeAck(serverIds: readonly string[]): Buffer {
  const b = Buffer.allocUnsafe(3 + ID_LEN * serverIds.length);
  b[0] = F.ACK;
  b.writeUInt16BE(serverIds.length, 1);
  serverIds.forEach((id, i) => {
    b.write(id, 3 + i * ID_LEN, 'ascii');
  });
  return b;
}

export function decodeAck(b: Buffer): string[] {
  const n = b.readUInt16BE(1);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.toString('ascii', 3 + i * ID_LEN, 3 + (i + 1) * ID_LEN));
  return out;
}

export function encodeSent(requestId: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = F.SENT;
  b.writeUInt32BE(requestId, 1);
  return b;
}
