/**
 * History bundles: the phone encrypts message history under a fresh 256-bit key with the STREAM
 * construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its
 * Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7 "nOAE from STREAM"): chunk i is sealed with
 * nonce = prefix || u32be i || last-chunk flag, so reordering, truncation and extension fail.
 * The key and the SHA-256 of the ciphertext travel to the companion in an ordinary E2EE message.
 *
 * Ciphertext stream: header (24 bytes: u8 version (1) || u32be chunkSize || 19-byte nonce prefix)
 * followed by the sealed chunks, each chunkSize + 16 bytes except the last (>= 16 bytes).
 * AEAD = XChaCha20-Poly1305 (24-byte nonce = 19 + 4 + 1), AD = "tandem/v1/history\0" || header.
 * A chunk boundary is implied by chunkSize, so the stream may be stored and fetched as one blob
 * and fed to the decryptor in pieces of any size.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CryptoError, invalidArgument } from './errors.js';
import { HISTORY_AD } from './prefixes.js';
import { randomBytes } from './random.js';
import { assertBytes, assertObject, concatBytes, equalBytes, isBytes, u8, u32be, wipe } from './utils.js';

export const HISTORY_VERSION = 1;
export const DEFAULT_HISTORY_CHUNK_SIZE = 64 * 1024;
export const MAX_HISTORY_CHUNK_SIZE = 16 * 1024 * 1024;
const HEADER_LENGTH = 24;
const PREFIX_LENGTH = 19;
const TAG = 16;

export interface HistoryBundle {
  /** 32-byte key: send it (with sha256) to the companion inside an E2EE message. */
  key: Uint8Array;
  /** Ciphertext pieces; their concatenation is the blob to upload. */
  chunks: Uint8Array[];
  /** SHA-256 of the concatenated ciphertext. */
  sha256: Uint8Array;
}

export interface HistoryOptions {
  /** Plaintext bytes per chunk, 1..16 MiB; default 64 KiB. */
  chunkSize?: number;
}

function nonceFor(prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(24);
  nonce.set(prefix);
  new DataView(nonce.buffer).setUint32(PREFIX_LENGTH, index, false);
  nonce[23] = last ? 1 : 0;
  return nonce;
}

function chunkSizeOf(options: HistoryOptions | undefined): number {
  if (options === undefined) return DEFAULT_HISTORY_CHUNK_SIZE;
  assertObject('options', options);
  const size = options.chunkSize ?? DEFAULT_HISTORY_CHUNK_SIZE;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_HISTORY_CHUNK_SIZE) {
    throw invalidArgument('options.chunkSize', `must be an integer in [1, ${MAX_HISTORY_CHUNK_SIZE}]`);
  }
  return size;
}

export interface HistoryEncryptor {
  readonly key: Uint8Array;
  /** Adds plaintext; returns the ciphertext pieces now complete (upload them in order). */
  push(plaintext: Uint8Array): Uint8Array[];
  /** Seals the final chunk; returns the remaining pieces and the SHA-256 of the whole ciphertext. */
  finish(): { chunks: Uint8Array[]; sha256: Uint8Array };
}

/** Incremental encryptor: memory use is about two chunks, whatever the bundle's size. */
export function createHistoryEncryptor(options?: HistoryOptions): HistoryEncryptor {
  const chunkSize = chunkSizeOf(options);
  const key = randomBytes(32);
  const prefix = randomBytes(PREFIX_LENGTH);
  const header = concatBytes(u8(HISTORY_VERSION), u32be(chunkSize), prefix);
  const ad = concatBytes(HISTORY_AD, header);
  const hash = sha256.create();
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  let index = 0;
  let headerSent = false;
  let finished = false;

  const emit = (out: Uint8Array[], piece: Uint8Array) => {
    if (!headerSent) {
      out.push(header);
      hash.update(header);
      headerSent = true;
    }
    out.push(piece);
    hash.update(piece);
  };
  const seal = (plain: Uint8Array, last: boolean): Uint8Array => {
    if (index > 0xffff_ffff) throw new CryptoError('INVALID_ARGUMENT', 'history bundle has too many chunks');
    const sealed = xchacha20poly1305(key, nonceFor(prefix, index, last), ad).encrypt(plain);
    index++;
    return sealed;
  };

  return {
    key,
    push(plaintext: Uint8Array): Uint8Array[] {
      if (finished) throw invalidArgument('push', 'called after finish()');
      assertBytes('plaintext', plaintext);
      pending.push(plaintext.slice());
      pendingLength += plaintext.length;
      const out: Uint8Array[] = [];
      // Keep at least one byte back: the final chunk must be sealed with the last flag.
      while (pendingLength > chunkSize) {
        const all = concatBytes(...pending);
        emit(out, seal(all.subarray(0, chunkSize), false));
        const rest = all.slice(chunkSize);
        wipe(all);
        pending = [rest];
        pendingLength = rest.length;
      }
      return out;
    },
    finish() {
      if (finished) throw invalidArgument('finish', 'called twice');
      finished = true;
      const out: Uint8Array[] = [];
      const all = concatBytes(...pending);
      emit(out, seal(all, true));
      wipe(all, ...pending);
      pending = [];
      return { chunks: out, sha256: hash.digest() };
    },
  };
}

type ByteSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

async function* pieces(input: ByteSource, parameter: string): AsyncGenerator<Uint8Array> {
  if (isBytes(input)) {
    yield input;
    return;
  }
  if (
    input === null ||
    typeof input !== 'object' ||
    !(Symbol.asyncIterator in input || Symbol.iterator in input)
  ) {
    throw invalidArgument(parameter, 'must be a Uint8Array or an (async) iterable of Uint8Array');
  }
  let i = 0;
  for await (const piece of input as AsyncIterable<Uint8Array>) {
    assertBytes(`${parameter}[${i++}]`, piece);
    yield piece;
  }
}

/** Encrypts a whole bundle (bytes, or an iterable / async iterable of byte pieces). */
export async function encryptHistoryBundle(
  plaintext: ByteSource,
  options?: HistoryOptions,
): Promise<HistoryBundle> {
  const encryptor = createHistoryEncryptor(options);
  const chunks: Uint8Array[] = [];
  try {
    for await (const piece of pieces(plaintext, 'plaintext')) chunks.push(...encryptor.push(piece));
  } catch (cause) {
    if (cause instanceof CryptoError) throw cause;
    throw new CryptoError('INVALID_ARGUMENT', 'plaintext source failed', { cause, parameter: 'plaintext' });
  }
  const end = encryptor.finish();
  chunks.push(...end.chunks);
  return { key: encryptor.key, chunks, sha256: end.sha256 };
}

export interface HistoryDecryptor {
  /** Feeds ciphertext bytes (any split); returns the plaintext now authenticated. */
  push(ciphertext: Uint8Array): Uint8Array;
  /** Ends the stream: opens the final chunk, checks it is final and checks the SHA-256. */
  finish(): Uint8Array;
}

/**
 * Incremental decryptor. Errors: UNSUPPORTED_VERSION, BAD_FORMAT (bad header, or data after the
 * final chunk), DECRYPT_FAILED (tampering or reordering), TRUNCATED (final chunk missing),
 * HASH_MISMATCH. Plaintext it returns has been authenticated chunk by chunk.
 */
export function createHistoryDecryptor(key: Uint8Array, expectedSha256: Uint8Array): HistoryDecryptor {
  assertBytes('key', key, 32);
  assertBytes('expectedSha256', expectedSha256, 32);
  const k = key.slice();
  const hash = sha256.create();
  let header: { chunkSize: number; prefix: Uint8Array; ad: Uint8Array } | undefined;
  let buffer: Uint8Array = new Uint8Array(0);
  let index = 0;
  let finished = false;

  const open = (sealed: Uint8Array, last: boolean): Uint8Array | undefined => {
    try {
      return xchacha20poly1305(k, nonceFor(header!.prefix, index, last), header!.ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  };

  return {
    push(ciphertext: Uint8Array): Uint8Array {
      if (finished) throw invalidArgument('push', 'called after finish()');
      assertBytes('ciphertext', ciphertext);
      hash.update(ciphertext);
      buffer = concatBytes(buffer, ciphertext);
      if (header === undefined) {
        if (buffer.length < HEADER_LENGTH) return new Uint8Array(0);
        const h = buffer.subarray(0, HEADER_LENGTH);
        if (h[0] !== HISTORY_VERSION)
          throw new CryptoError('UNSUPPORTED_VERSION', `history bundle version ${h[0]}`);
        const chunkSize = new DataView(h.buffer, h.byteOffset, HEADER_LENGTH).getUint32(1, false);
        if (chunkSize < 1 || chunkSize > MAX_HISTORY_CHUNK_SIZE)
          throw new CryptoError('BAD_FORMAT', 'history bundle: bad chunk size');
        header = { chunkSize, prefix: h.slice(5, HEADER_LENGTH), ad: concatBytes(HISTORY_AD, h) };
        buffer = buffer.slice(HEADER_LENGTH);
      }
      const sealedSize = header.chunkSize + TAG;
      const out: Uint8Array[] = [];
      // Hold back at least one byte beyond a full chunk: the stream's final chunk is opened in finish().
      while (buffer.length > sealedSize) {
        const sealed = buffer.subarray(0, sealedSize);
        const plain = open(sealed, false);
        if (plain === undefined) {
          if (open(sealed, true) !== undefined)
            throw new CryptoError('BAD_FORMAT', 'history bundle: data after the final chunk');
          throw new CryptoError('DECRYPT_FAILED', `history chunk ${index} does not authenticate`);
        }
        out.push(plain);
        index++;
        buffer = buffer.slice(sealedSize);
      }
      return concatBytes(...out);
    },
    finish(): Uint8Array {
      if (finished) throw invalidArgument('finish', 'called twice');
      finished = true;
      if (header === undefined || buffer.length < TAG)
        throw new CryptoError('TRUNCATED', 'history bundle: final chunk missing');
      const plain = open(buffer, true);
      if (plain === undefined) {
        if (open(buffer, false) !== undefined)
          throw new CryptoError('TRUNCATED', 'history bundle: final chunk missing');
        throw new CryptoError('DECRYPT_FAILED', `history chunk ${index} does not authenticate`);
      }
      if (!equalBytes(hash.digest(), expectedSha256)) {
        throw new CryptoError('HASH_MISMATCH', 'history bundle SHA-256 does not match');
      }
      wipe(k);
      return plain;
    },
  };
}

/**
 * Decrypts a whole bundle. The SHA-256 is checked before any plaintext is returned.
 * For bundles too large for memory use createHistoryDecryptor.
 */
export async function decryptHistoryBundle(
  key: Uint8Array,
  chunks: ByteSource,
  expectedSha256: Uint8Array,
): Promise<Uint8Array> {
  const decryptor = createHistoryDecryptor(key, expectedSha256);
  const out: Uint8Array[] = [];
  try {
    for await (const piece of pieces(chunks, 'chunks')) out.push(decryptor.push(piece));
  } catch (cause) {
    if (cause instanceof CryptoError) throw cause;
    throw new CryptoError('INVALID_ARGUMENT', 'chunks source failed', { cause, parameter: 'chunks' });
  }
  out.push(decryptor.finish());
  return concatBytes(...out);
}
