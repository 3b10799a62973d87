// The README's example, executed by test/unit/readme-example.test.ts.
import {
  counterSignCompanion,
  encodeDeviceIdentityDetails,
  signCompanion,
  signDeviceList,
  verifyAccountDevices,
} from '@tandem/crypto/device-signatures';
import { decryptEnvelope, encryptForDevices } from '@tandem/crypto/fanout';
import { decryptHistoryBundle, encryptHistoryBundle } from '@tandem/crypto/history';
import { generateIdentity, signAuthChallenge, verifyAuthChallenge } from '@tandem/crypto/identity';
import {
  createLinkOffer,
  decodeQrPayload,
  encodeQrPayload,
  openLinkingPayload,
  sealLinkingPayload,
} from '@tandem/crypto/linking';
import { verifyAuthChallengeFast } from '@tandem/crypto/node';
import {
  generateLastResortPqPrekey,
  generateOneTimePrekeys,
  generateSignedPrekey,
  type PrekeyBundle,
} from '@tandem/crypto/prekeys';
import { deserializeSession, serializeSession } from '@tandem/crypto/ratchet';
import { safetyNumber } from '@tandem/crypto/safety-number';

export async function quickstart(): Promise<{ received: string; history: string; safety: string }> {
  const ALICE = '11111111-2222-4333-8444-555555555555';
  const BOB = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

  // 1. Each device makes its own identity and prekeys; the bundle goes to the registry.
  const bob = generateIdentity();
  const spk = generateSignedPrekey(bob.secretKey, 1);
  const [otk] = generateOneTimePrekeys(1, 1);
  const pq = generateLastResortPqPrekey(bob.secretKey, 1);
  const bundle: PrekeyBundle = {
    identityKey: bob.publicKey,
    registrationId: 7,
    deviceId: 1,
    signedPrekey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    oneTimePrekey: { id: otk!.id, publicKey: otk!.publicKey },
    pqPrekey: { id: pq.id, publicKey: pq.publicKey, signature: pq.signature, lastResort: pq.lastResort },
  };

  // 2. Connect: the gateway checks a signed challenge (pure or Node fast path: same bytes, same answer).
  const fields = {
    realm: 'chat.example.org',
    nonce: new Uint8Array(32),
    timestampMs: Date.now(),
    accountId: BOB,
    deviceId: 1,
  };
  const proof = signAuthChallenge(bob.secretKey, fields);
  if (
    !verifyAuthChallenge(bob.publicKey, fields, proof) ||
    !verifyAuthChallengeFast(bob.publicKey, fields, proof)
  ) {
    throw new Error('challenge');
  }

  // 3. Alice's phone links a companion: QR -> sealed payload -> ADV signatures.
  const alice = generateIdentity();
  const companion = generateIdentity();
  const offer = createLinkOffer();
  const qr = encodeQrPayload({
    linkId: 'link-1',
    ephemeralPublicKey: offer.ephemeralPublicKey,
    identityPublicKey: companion.publicKey,
    secret: offer.secret,
  });
  const scanned = decodeQrPayload(qr);
  const details = encodeDeviceIdentityDetails({
    accountId: ALICE,
    deviceId: 2,
    identityKey: scanned.identityPublicKey,
    linkedAtMs: Date.now(),
    keyIndex: 1,
  });
  const accountSignature = signCompanion(alice.secretKey, details);
  const sealed = sealLinkingPayload({
    linkId: scanned.linkId,
    companionEphemeralPublic: scanned.ephemeralPublicKey,
    companionIdentityPublic: scanned.identityPublicKey,
    secret: scanned.secret,
    payload: new Uint8Array([...details, ...accountSignature]),
  });
  const opened = openLinkingPayload({
    linkId: 'link-1',
    offer,
    companionIdentityPublic: companion.publicKey,
    sealed,
  });
  const deviceSignature = counterSignCompanion(
    companion.secretKey,
    opened.subarray(0, 65),
    opened.subarray(65),
    alice.publicKey,
  );
  const { listBytes, signature } = signDeviceList(alice.secretKey, {
    accountId: ALICE,
    timestampMs: Date.now(),
    listIndex: 1,
    devices: [
      { deviceId: 1, identityKey: alice.publicKey },
      { deviceId: 2, identityKey: companion.publicKey },
    ],
  });
  // Anyone who knows Alice's primary key checks her device set before encrypting to it.
  verifyAccountDevices(alice.publicKey, listBytes, signature, [
    { details, accountSignature, deviceSignature },
  ]);

  // 4. Alice's companion sends to Bob's device: a prekey message builds the session.
  const [env] = encryptForDevices(
    { identity: companion, registrationId: 2 },
    new TextEncoder().encode('hi Bob'),
    [{ accountId: BOB, deviceId: 1, identityKey: bob.publicKey, bundle }],
  );
  const stored = serializeSession(env!.session); // persist per (accountId, deviceId)
  const got = decryptEnvelope(env!.envelope, {
    identity: bob,
    senderIdentityKey: companion.publicKey,
    prekeys: { signedPrekey: () => spk, oneTimePrekey: () => otk, pqPrekey: () => pq },
  });
  deserializeSession(stored);

  // 5. History sync: chunked AEAD blob; key + hash travel in an E2EE message.
  const bundleOut = await encryptHistoryBundle(new TextEncoder().encode('old messages'), { chunkSize: 4096 });
  const history = await decryptHistoryBundle(bundleOut.key, bundleOut.chunks, bundleOut.sha256);

  // 6. Safety number over all devices of both accounts.
  const safety = safetyNumber(
    { accountId: ALICE, identityKeys: [alice.publicKey, companion.publicKey] },
    { accountId: BOB, identityKeys: [bob.publicKey] },
  );
  return {
    received: new TextDecoder().decode(got.plaintext),
    history: new TextDecoder().decode(history),
    safety,
  };
}
