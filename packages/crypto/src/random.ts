/**
 * Internal randomness source. Not an entry point: the public default path always uses the
 * platform CSPRNG (`randomBytes` from @noble/hashes: crypto.getRandomValues in browsers and Node).
 * Only Tandem's known-answer generator and tests swap in a deterministic source, for the duration
 * of one synchronous call, through this module, which no package export exposes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes as platformRandomBytes } from '@noble/hashes/utils.js';

type Source = (length: number) => Uint8Array;

let override: Source | undefined;

export function randomBytes(length: number): Uint8Array {
  return override === undefined ? platformRandomBytes(length) : override(length);
}

const NONCE_POOL_SIZE = 4096;
let noncePool = new Uint8Array(0);
let noncePoolOffset = 0;

/**
 * Fills `out` (at most 256 bytes) with random bytes for a *public* value: a nonce that travels in
 * the clear. Drawn from the platform CSPRNG 4 KiB at a time, because one getRandomValues call
 * costs about as much as a message's whole KDF step; each byte is handed out once. Never use it
 * for keys or other secrets (those call `randomBytes`, one CSPRNG call each).
 */
export function randomNonceInto(out: Uint8Array): void {
  if (override !== undefined) {
    out.set(override(out.length));
    return;
  }
  if (out.length > 256) throw new RangeError('randomNonceInto: at most 256 bytes');
  if (noncePoolOffset + out.length > noncePool.length) {
    noncePool = platformRandomBytes(NONCE_POOL_SIZE);
    noncePoolOffset = 0;
  }
  out.set(noncePool.subarray(noncePoolOffset, noncePoolOffset + out.length));
  noncePoolOffset += out.length;
}

/** Runs `fn` with `source` as the randomness source (synchronous only), then restores the default. */
export function withRandomSource<T>(source: Source, fn: () => T): T {
  const previous = override;
  override = source;
  try {
    return fn();
  } finally {
    override = previous;
  }
}

/** A deterministic byte stream from a seed: SHA-256(seed || u32 counter) blocks. Tests only. */
export function seededSource(seed: string | Uint8Array): Source {
  const s = typeof seed === 'string' ? new TextEncoder().encode(seed) : seed;
  let counter = 0;
  let buffer = new Uint8Array(0);
  return (length) => {
    while (buffer.length < length) {
      const block = new Uint8Array(s.length + 4);
      block.set(s);
      new DataView(block.buffer).setUint32(s.length, counter++, false);
      const next = new Uint8Array(buffer.length + 32);
      next.set(buffer);
      next.set(sha256(block), buffer.length);
      buffer = next;
    }
    const out = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return out;
  };
}
