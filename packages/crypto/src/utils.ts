/**
 * Internal helpers: boundary assertions (each error names the parameter), canonical big-endian
 * encodings, a bounds-checked reader, constant-time comparison and base64url. Not an entry point.
 */
import { equalBytes as nobleEqualBytes } from '@noble/ciphers/utils.js';
import { CryptoError, invalidArgument } from './errors.js';

export const UINT32_MAX = 0xffff_ffff;

/** Constant-time (for equal lengths) byte comparison; false on different lengths. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return nobleEqualBytes(a, b);
}

export function isBytes(value: unknown): value is Uint8Array {
  return (
    value instanceof Uint8Array || (ArrayBuffer.isView(value) && value.constructor.name === 'Uint8Array')
  );
}

/** Asserts `value` is a Uint8Array (of `length` bytes, when given). */
export function assertBytes(parameter: string, value: unknown, length?: number): Uint8Array {
  if (!isBytes(value)) throw invalidArgument(parameter, 'must be a Uint8Array');
  if (length !== undefined && value.length !== length) {
    throw invalidArgument(parameter, `must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

export function assertUint32(parameter: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw invalidArgument(parameter, 'must be an integer in [0, 2^32-1]');
  }
  return value;
}

/** A non-negative safe integer (timestamps in ms). */
export function assertSafeUint(parameter: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(parameter, 'must be a non-negative safe integer');
  }
  return value;
}

export function assertBoolean(parameter: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidArgument(parameter, 'must be a boolean');
  return value;
}

export function assertObject(parameter: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgument(parameter, 'must be an object');
  }
  return value as Record<string, unknown>;
}

export function assertArray(parameter: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw invalidArgument(parameter, 'must be an array');
  return value;
}

/** Device ids are uint32, at least 1 (1 = primary). */
export function assertDeviceId(parameter: string, value: unknown): number {
  const id = assertUint32(parameter, value);
  if (id === 0) throw invalidArgument(parameter, 'must be >= 1');
  return id;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Asserts a lowercase 36-character UUID. */
export function assertAccountId(parameter: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID_RE.test(value)) {
    throw invalidArgument(parameter, 'must be a lowercase 36-character UUID string');
  }
  return value;
}

/** Asserts a lowercase 36-character UUID and returns its 16 bytes. */
export function accountIdToBytes(parameter: string, value: unknown): Uint8Array {
  if (typeof value !== 'string' || !UUID_RE.test(value)) {
    throw invalidArgument(parameter, 'must be a lowercase 36-character UUID string');
  }
  return hexToBytes(value.replaceAll('-', ''));
}

export function bytesToAccountId(bytes: Uint8Array): string {
  const h = bytesToHex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw invalidArgument('hex', 'must be hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff);
}

export function u16be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/** Unsigned 64-bit big-endian of a safe integer. */
export function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32), false);
  view.setUint32(4, n >>> 0, false);
  return out;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Overwrites secrets with zeros (best effort: JS engines may have copied them). */
export function wipe(...arrays: (Uint8Array | null | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** Bounds-checked big-endian reader for Tandem's byte formats. */
export class ByteReader {
  private offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  bytesN(n: number): Uint8Array {
    if (this.remaining < n) throw new CryptoError('TRUNCATED', `${this.what}: truncated`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Like bytesN but returns a copy (for values kept after the input buffer is reused). */
  copyN(n: number): Uint8Array {
    return this.bytesN(n).slice();
  }

  u8(): number {
    return this.bytesN(1)[0]!;
  }

  u16(): number {
    const b = this.bytesN(2);
    return (b[0]! << 8) | b[1]!;
  }

  u32(): number {
    const b = this.bytesN(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false);
  }

  u64(): number {
    const b = this.bytesN(8);
    const view = new DataView(b.buffer, b.byteOffset, 8);
    const hi = view.getUint32(0, false);
    const lo = view.getUint32(4, false);
    if (hi > 0x1f_ffff) throw new CryptoError('BAD_FORMAT', `${this.what}: 64-bit value exceeds 2^53-1`);
    return hi * 2 ** 32 + lo;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new CryptoError('BAD_FORMAT', `${this.what}: boolean byte must be 0 or 1`);
    return v === 1;
  }

  rest(): Uint8Array {
    return this.bytesN(this.remaining);
  }

  /** Asserts the whole input was consumed (canonical encodings have no trailing bytes). */
  end(): void {
    if (this.remaining !== 0)
      throw new CryptoError('BAD_FORMAT', `${this.what}: ${this.remaining} trailing bytes`);
  }
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_INDEX = new Map<string, number>([...B64URL].map((c, i) => [c, i]));

/** Base64url without padding (RFC 4648 §5). */
export function base64urlEncode(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]! + B64URL[(n >>> 6) & 63]! + B64URL[n & 63]!;
  }
  const left = bytes.length - i;
  if (left === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]!;
  } else if (left === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]! + B64URL[(n >>> 6) & 63]!;
  }
  return out;
}

/** Strict base64url decoding: no padding, no foreign characters, canonical trailing bits. */
export function base64urlDecode(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new CryptoError('BAD_FORMAT', 'base64url: invalid length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of text) {
    const v = B64URL_INDEX.get(c);
    if (v === undefined) throw new CryptoError('BAD_FORMAT', 'base64url: invalid character');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0) throw new CryptoError('BAD_FORMAT', 'base64url: non-canonical trailing bits');
  return out;
}
