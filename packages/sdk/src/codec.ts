/** JSON with Uint8Array support (as {"$b": base64}), for what the SDK keeps in its store. */

function toB64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromB64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(value, (_k, v: unknown) => {
      if (v instanceof Uint8Array) return { $b: toB64(v) };
      if (typeof v === 'bigint') return { $n: v.toString() };
      return v;
    }),
  );
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(bytes), (_k, v: unknown) => {
    if (v !== null && typeof v === 'object') {
      const o = v as { $b?: unknown; $n?: unknown };
      if (typeof o.$b === 'string' && Object.keys(o).length === 1) return fromB64(o.$b);
      if (typeof o.$n === 'string' && Object.keys(o).length === 1) return BigInt(o.$n);
    }
    return v;
  }) as T;
}

export function randomId(bytes = 16): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return toB64(b).replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '');
}

export function randomUint31(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return b[0]! & 0x7fffffff || 1;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
