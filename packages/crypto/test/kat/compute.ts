/**
 * Tandem v1 known-answer values: every construction run from fixed seeds. generate.ts writes them
 * to tandem-v1.json; test/unit/kat.test.ts recomputes them, so an accidental change of any byte
 * format or derivation fails the tests. The deterministic randomness source is internal
 * (src/random.ts) and used only here and in tests.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import {
  counterSignCompanion,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
} from '../../src/device-signatures.js';
import { encryptForDevices } from '../../src/fanout.js';
import { createHistoryEncryptor } from '../../src/history.js';
import { authChallengeMessage, generateIdentity, signAuthChallenge } from '../../src/identity.js';
import { createLinkOffer, encodeQrPayload, sealLinkingPayload } from '../../src/linking.js';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generateSignedPrekey,
} from '../../src/prekeys.js';
import { seededSource, withRandomSource } from '../../src/random.js';
import { safetyNumber } from '../../src/safety-number.js';
import { initiateSession } from '../../src/session.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const ACCOUNT_A = '0f0e0d0c-0b0a-4908-8706-050403020100';
const ACCOUNT_B = '10203040-5060-4708-890a-0b0c0d0e0f10';

export function computeKat(): Record<string, unknown> {
  return withRandomSource(seededSource('tandem-v1-kat'), () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const companion = generateIdentity();

    const challenge = {
      realm: 'tandem.example',
      nonce: new Uint8Array(32).fill(0x42),
      timestampMs: 1_700_000_000_000,
      accountId: ACCOUNT_A,
      deviceId: 1,
    };

    const spk = generateSignedPrekey(bob.secretKey, 1);
    const otk = generateOneTimePrekeys(1, 1)[0]!;
    const pq = generateLastResortPqPrekey(bob.secretKey, 1);
    const bundle = {
      identityKey: bob.publicKey,
      registrationId: 4242,
      deviceId: 1,
      signedPrekey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
      oneTimePrekey: { id: otk.id, publicKey: otk.publicKey },
      pqPrekey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature, lastResort: pq.lastResort },
    };
    const withOtk = initiateSession(alice, 77, bundle);
    const withoutOtk = initiateSession(alice, 77, { ...bundle, oneTimePrekey: undefined });
    const first = encryptForDevices(
      { identity: alice, registrationId: 77 },
      new TextEncoder().encode('first message'),
      [{ accountId: ACCOUNT_B, deviceId: 1, identityKey: bob.publicKey, bundle }],
    )[0]!;

    const details = {
      accountId: ACCOUNT_A,
      deviceId: 2,
      identityKey: companion.publicKey,
      linkedAtMs: 1_700_000_000_000,
      keyIndex: 1,
    };
    const detailsBytes = encodeDeviceIdentityDetails(details);
    const accountSignature = signCompanion(alice.secretKey, details);
    const deviceSignature = counterSignCompanion(
      companion.secretKey,
      details,
      accountSignature,
      alice.publicKey,
    );
    const list = signDeviceList(alice.secretKey, {
      accountId: ACCOUNT_A,
      timestampMs: 1_700_000_000_001,
      listIndex: 2,
      devices: [
        { deviceId: 1, identityKey: alice.publicKey },
        { deviceId: 2, identityKey: companion.publicKey },
      ],
    });

    const offer = createLinkOffer();
    const qr = encodeQrPayload({
      linkId: 'link-0001',
      ephemeralPublicKey: offer.ephemeralPublicKey,
      identityPublicKey: companion.publicKey,
      secret: offer.secret,
    });
    const sealed = sealLinkingPayload({
      linkId: 'link-0001',
      companionEphemeralPublic: offer.ephemeralPublicKey,
      companionIdentityPublic: companion.publicKey,
      secret: offer.secret,
      payload: detailsBytes,
    });

    const history = createHistoryEncryptor({ chunkSize: 16 });
    const historyChunks = history.push(new TextEncoder().encode('history: forty bytes of old messages....'));
    const historyEnd = history.finish();

    return {
      description: 'Tandem v1 known-answer values (packages/crypto/test/kat/generate.ts). Hex unless noted.',
      identities: {
        alice: hex(alice.publicKey),
        bob: hex(bob.publicKey),
        companion: hex(companion.publicKey),
      },
      authChallenge: {
        fields: { ...challenge, nonce: hex(challenge.nonce) },
        message: hex(authChallengeMessage(challenge)),
        signature: hex(signAuthChallenge(alice.secretKey, challenge)),
      },
      prekeys: {
        signedPrekey: { id: spk.id, publicKey: hex(spk.publicKey), signature: hex(spk.signature) },
        oneTimePrekey: { id: otk.id, publicKey: hex(otk.publicKey) },
        pqPrekey: {
          id: pq.id,
          publicKeySha256: hex(sha256(pq.publicKey)),
          signature: hex(pq.signature),
          lastResort: true,
        },
      },
      session: {
        sharedKeyWithOneTimePrekey: hex(withOtk.sharedKey),
        sharedKeyWithoutOneTimePrekey: hex(withoutOtk.sharedKey),
        associatedData: hex(withOtk.associatedData),
        kemCiphertextSha256: hex(sha256(withOtk.header.kemCiphertext)),
        firstEnvelope: hex(first.envelope),
      },
      deviceSignatures: {
        details: hex(detailsBytes),
        accountSignature: hex(accountSignature),
        deviceSignature: hex(deviceSignature),
        deviceList: hex(list.listBytes),
        deviceListSignature: hex(list.signature),
      },
      linking: { qr, sealed: hex(sealed) },
      history: {
        key: hex(history.key),
        chunks: [...historyChunks, ...historyEnd.chunks].map(hex),
        sha256: hex(historyEnd.sha256),
      },
      safetyNumber: safetyNumber(
        { accountId: ACCOUNT_A, identityKeys: [alice.publicKey, companion.publicKey] },
        { accountId: ACCOUNT_B, identityKeys: [bob.publicKey] },
      ),
    };
  });
}
