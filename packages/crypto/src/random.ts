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
