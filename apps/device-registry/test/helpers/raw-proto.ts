/**
 * A minimal protobuf writer, to send requests that proto's own encoder refuses to produce (wrong
 * key lengths, oversized batches): what a buggy or hostile client could put on the bus.
 */
const varint = (n: number | bigint): number[] => {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
};

export type Field = Uint8Array;

export const pb = {
  varint: (field: number, value: number | bigint): Field =>
    Uint8Array.from([...varint(field << 3), ...varint(value)]),
  bytes: (field: number, value: Uint8Array): Field =>
    Uint8Array.from([...varint((field << 3) | 2), ...varint(value.length), ...value]),
  string: (field: number, value: string): Field => pb.bytes(field, new TextEncoder().encode(value)),
  message: (field: number, ...parts: Field[]): Field => pb.bytes(field, pb.concat(...parts)),
  concat: (...parts: Field[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  },
};
