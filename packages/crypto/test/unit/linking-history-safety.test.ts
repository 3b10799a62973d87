import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CryptoError } from '../../src/errors.js';
import {
  createHistoryDecryptor,
  createHistoryEncryptor,
  decryptHistoryBundle,
  encryptHistoryBundle,
} from '../../src/history.js';
import { generateIdentity } from '../../src/identity.js';
import {
  createLinkOffer,
  decodeQrPayload,
  encodeQrPayload,
  openLinkingPayload,
  sealLinkingPayload,
} from '../../src/linking.js';
import { formatSafetyNumber, safetyNumber } from '../../src/safety-number.js';
import { ALICE, BOB, expectCryptoError, expectCryptoErrorAsync, text } from '../helpers.js';

describe('linking', () => {
  const companion = generateIdentity();
  const offer = createLinkOffer();
  const linkId = 'a1b2c3d4-link';
  const qr = encodeQrPayload({
    linkId,
    ephemeralPublicKey: offer.ephemeralPublicKey,
    identityPublicKey: companion.publicKey,
    secret: offer.secret,
  });
  const scanned = decodeQrPayload(qr);
  const sealed = sealLinkingPayload({
    linkId: scanned.linkId,
    companionEphemeralPublic: scanned.ephemeralPublicKey,
    companionIdentityPublic: scanned.identityPublicKey,
    secret: scanned.secret,
    payload: text('account+signatures'),
  });
  const open = (over: Partial<Parameters<typeof openLinkingPayload>[0]> = {}) =>
    openLinkingPayload({ linkId, offer, companionIdentityPublic: companion.publicKey, sealed, ...over });

  it('encodes a compact URL-safe QR string and opens the sealed payload', () => {
    expect(qr.startsWith('tandem1:')).toBe(true);
    expect(qr).toMatch(/^tandem1:[A-Za-z0-9_-]+$/);
    expect(scanned.linkId).toBe(linkId);
    expect(new TextDecoder().decode(open())).toBe('account+signatures');
  });

  it('fails without the secret, for another link id, or another identity', () => {
    expectCryptoError(() => open({ offer: { ...offer, secret: new Uint8Array(32) } }), 'DECRYPT_FAILED');
    expectCryptoError(() => open({ linkId: 'other' }), 'DECRYPT_FAILED');
    expectCryptoError(
      () => open({ companionIdentityPublic: generateIdentity().publicKey }),
      'DECRYPT_FAILED',
    );
    expectCryptoError(() => decodeQrPayload(`tandem2:${qr.slice(8)}`), 'UNSUPPORTED_VERSION');
    expectCryptoError(() => decodeQrPayload(`${qr}A`), 'BAD_FORMAT');
    expectCryptoError(() => decodeQrPayload(qr.slice(0, 40)), 'TRUNCATED');
    expectCryptoError(
      () =>
        sealLinkingPayload({
          linkId: 'bad id!',
          companionEphemeralPublic: offer.ephemeralPublicKey,
          companionIdentityPublic: companion.publicKey,
          secret: offer.secret,
          payload: text(''),
        }),
      'INVALID_ARGUMENT',
      'input.linkId',
    );
  });

  it('any single bit flip of the sealed payload fails with CryptoError', () => {
    fc.assert(
      fc.property(fc.nat(), (bit) => {
        const bad = sealed.slice();
        const i = bit % (bad.length * 8);
        bad[i >> 3]! ^= 1 << (i & 7);
        expect(() => open({ sealed: bad })).toThrow(CryptoError);
      }),
      { numRuns: 60 },
    );
  });
});

describe('history bundles (STREAM)', () => {
  const data = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);

  it('round-trips bytes, iterables and async iterables, any chunk size', async () => {
    for (const chunkSize of [1000, 4096, 10_000, 20_000]) {
      const b = await encryptHistoryBundle(data, { chunkSize });
      expect(await decryptHistoryBundle(b.key, b.chunks, b.sha256)).toEqual(data);
    }
    async function* gen() {
      for (let i = 0; i < data.length; i += 333) yield data.subarray(i, i + 333);
    }
    const b = await encryptHistoryBundle(gen(), { chunkSize: 1024 });
    const blob = new Uint8Array(b.chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of b.chunks) {
      blob.set(c, o);
      o += c.length;
    }
    // the blob may be fed to the decryptor in pieces of any size
    const dec = createHistoryDecryptor(b.key, b.sha256);
    const parts: number[] = [];
    for (let i = 0; i < blob.length; i += 777) parts.push(...dec.push(blob.subarray(i, i + 777)));
    parts.push(...dec.finish());
    expect(new Uint8Array(parts)).toEqual(data);
    const empty = await encryptHistoryBundle(new Uint8Array(0));
    expect(await decryptHistoryBundle(empty.key, empty.chunks, empty.sha256)).toEqual(new Uint8Array(0));
  });

  it('detects reordering, truncation, extension and a wrong hash', async () => {
    const enc = createHistoryEncryptor({ chunkSize: 1000 });
    const chunks = [...enc.push(data)];
    const end = enc.finish();
    chunks.push(...end.chunks);
    const { key, sha256 } = { key: enc.key, sha256: end.sha256 };
    expect(chunks.length).toBe(11); // header + 10 sealed chunks
    const swapped = [chunks[0]!, chunks[2]!, chunks[1]!, ...chunks.slice(3)];
    await expectCryptoErrorAsync(() => decryptHistoryBundle(key, swapped, sha256), 'DECRYPT_FAILED');
    await expectCryptoErrorAsync(() => decryptHistoryBundle(key, chunks.slice(0, -1), sha256), 'TRUNCATED');
    const extra = (await encryptHistoryBundle(data, { chunkSize: 1000 })).chunks[1]!;
    await expectCryptoErrorAsync(() => decryptHistoryBundle(key, [...chunks, extra], sha256), 'BAD_FORMAT');
    await expectCryptoErrorAsync(
      () => decryptHistoryBundle(key, chunks, new Uint8Array(32)),
      'HASH_MISMATCH',
    );
    await expectCryptoErrorAsync(
      () => decryptHistoryBundle(new Uint8Array(32), chunks, sha256),
      'DECRYPT_FAILED',
    );
    await expectCryptoErrorAsync(() => encryptHistoryBundle(data, { chunkSize: 0 }), 'INVALID_ARGUMENT');
  });

  it('any single bit flip of any chunk fails with CryptoError', async () => {
    const b = await encryptHistoryBundle(data.subarray(0, 3000), { chunkSize: 1000 });
    await fc.assert(
      fc.asyncProperty(fc.nat(b.chunks.length - 1), fc.nat(), async (ci, bit) => {
        const chunks = b.chunks.map((c) => c.slice());
        const c = chunks[ci]!;
        const i = bit % (c.length * 8);
        c[i >> 3]! ^= 1 << (i & 7);
        await expect(decryptHistoryBundle(b.key, chunks, b.sha256)).rejects.toBeInstanceOf(CryptoError);
      }),
      { numRuns: 150 },
    );
  });
});

describe('safety numbers', () => {
  const a = [generateIdentity(), generateIdentity()].map((k) => k.publicKey);
  const b = [generateIdentity()].map((k) => k.publicKey);

  it('is 60 digits, symmetric, and independent of device order', () => {
    const n = safetyNumber({ accountId: ALICE, identityKeys: a }, { accountId: BOB, identityKeys: b });
    expect(n).toMatch(/^[0-9]{60}$/);
    expect(
      safetyNumber({ accountId: BOB, identityKeys: b }, { accountId: ALICE, identityKeys: [...a].reverse() }),
    ).toBe(n);
    expect(formatSafetyNumber(n).split(' ')).toHaveLength(12);
    const c = safetyNumber({ accountId: ALICE, identityKeys: [a[0]!] }, { accountId: BOB, identityKeys: b });
    expect(c).not.toBe(n);
    expectCryptoError(
      () =>
        safetyNumber({ accountId: ALICE, identityKeys: [a[0]!, a[0]!] }, { accountId: BOB, identityKeys: b }),
      'INVALID_ARGUMENT',
      'local.identityKeys',
    );
  });
});
