// Published test vectors for every primitive Tandem builds on; sources are cited in the JSON.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { expand, extract, hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { dh } from '../../src/dh.js';
import { identityPublicKey, verifySignature } from '../../src/identity.js';
import { verifyEd25519 } from '../../src/node.js';
import { fromHex, hex, text } from '../helpers.js';

const V = JSON.parse(readFileSync(new URL('../vectors/published.json', import.meta.url), 'utf8'));

describe('X25519 (RFC 7748)', () => {
  it('§5.2 scalar multiplication vectors', () => {
    for (const t of V.x25519.scalarMult) {
      expect(hex(x25519.scalarMult(fromHex(t.scalar), fromHex(t.u)))).toBe(t.out);
      expect(hex(dh(fromHex(t.scalar), fromHex(t.u), 'u'))).toBe(t.out);
    }
  });

  it('§5.2 iterated vector, 1 iteration (the 1000-iteration one is in test/slow)', () => {
    const k = fromHex(`09${'00'.repeat(31)}`);
    expect(hex(x25519.scalarMult(k, k))).toBe(V.x25519.iterated['1']);
  });

  it('§6.1 Diffie-Hellman', () => {
    const t = V.x25519.dh;
    expect(hex(x25519.getPublicKey(fromHex(t.alicePrivate)))).toBe(t.alicePublic);
    expect(hex(x25519.getPublicKey(fromHex(t.bobPrivate)))).toBe(t.bobPublic);
    expect(hex(dh(fromHex(t.alicePrivate), fromHex(t.bobPublic), 'bob'))).toBe(t.shared);
    expect(hex(dh(fromHex(t.bobPrivate), fromHex(t.alicePublic), 'alice'))).toBe(t.shared);
  });
});

describe('Ed25519 (RFC 8032 §7.1)', () => {
  it('TEST 1-3: key derivation, signature, pure and node verification', () => {
    for (const t of V.ed25519.tests) {
      const msg = fromHex(t.message);
      expect(hex(identityPublicKey(fromHex(t.secret)))).toBe(t.public);
      expect(hex(ed25519.sign(msg, fromHex(t.secret)))).toBe(t.signature);
      expect(verifySignature(fromHex(t.public), msg, fromHex(t.signature))).toBe(true);
      expect(verifyEd25519(fromHex(t.public), msg, fromHex(t.signature))).toBe(true);
      const bad = fromHex(t.signature);
      bad[0]! ^= 1;
      expect(verifySignature(fromHex(t.public), msg, bad)).toBe(false);
      expect(verifyEd25519(fromHex(t.public), msg, bad)).toBe(false);
    }
  });
});

describe('HKDF-SHA256 (RFC 5869 A.1-A.3)', () => {
  it('PRK and OKM', () => {
    for (const t of V.hkdfSha256.tests) {
      const salt = t.salt === '' ? undefined : fromHex(t.salt);
      expect(hex(extract(sha256, fromHex(t.ikm), salt))).toBe(t.prk);
      expect(hex(expand(sha256, fromHex(t.prk), fromHex(t.info), t.length))).toBe(t.okm);
      expect(hex(hkdf(sha256, fromHex(t.ikm), salt, fromHex(t.info), t.length))).toBe(t.okm);
    }
  });
});

describe('AEAD', () => {
  it('XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1', () => {
    const t = V.xchacha20poly1305;
    const sealed = xchacha20poly1305(fromHex(t.key), fromHex(t.nonce), fromHex(t.aad)).encrypt(
      text(t.plaintextUtf8),
    );
    expect(hex(sealed)).toBe(t.ciphertext + t.tag);
    const opened = xchacha20poly1305(fromHex(t.key), fromHex(t.nonce), fromHex(t.aad)).decrypt(sealed);
    expect(new TextDecoder().decode(opened)).toBe(t.plaintextUtf8);
  });

  it('ChaCha20-Poly1305, RFC 8439 §2.8.2 (the construction XChaCha extends)', () => {
    const t = V.chacha20poly1305;
    const sealed = chacha20poly1305(fromHex(t.key), fromHex(t.nonce), fromHex(t.aad)).encrypt(
      text(t.plaintextUtf8),
    );
    expect(hex(sealed)).toBe(t.ciphertext + t.tag);
  });
});
