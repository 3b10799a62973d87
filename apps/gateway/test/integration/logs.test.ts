import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EnvelopeType } from '@tandem/proto';
import { createLogger } from '@tandem/service-kit';
import { TestClient } from '../helpers/client.js';
import { expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/** Structured logs at the most verbose level carry no payload bytes, keys or signatures. */
describe('logs', () => {
  let stack: Stack;
  const lines: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ gateways: 0 });
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    await stack.startGateway({}, createLogger({ service: 'gateway', level: 'trace', destination: sink }));
  });
  afterAll(async () => {
    await stack.close();
  });

  it('never writes ciphertext, identity keys or signatures, even on error paths', async () => {
    const url = stack.gateways[0]!.url;
    const alice = await TestDevice.registerPrimary(stack, url);
    const bob = await TestDevice.registerPrimary(stack, url);
    const marker = new Uint8Array(48).map((_, i) => (0xa5 + i * 7) & 0xff);
    const copies = await alice.fanout(bob.accountId);
    const body = alice.sendBody(bob.accountId, copies);
    if (body.case !== 'send') throw new Error('unreachable');
    for (const c of body.value.copies) {
      c.ciphertext = marker;
      c.type = EnvelopeType.MESSAGE;
    }
    expectCase(await alice.socket.request(body), 'sendResult');
    await bob.socket.waitPush((f) => f.body.case === 'deliver', 5000);
    // Error paths: a malformed frame and a failed authentication.
    const c = await TestClient.connect(url);
    c.sendRaw(new Uint8Array([0x0a, 0xff, ...marker]));
    await c.request(alice.authenticateBody(c, { secret: bob.identity.secretKey })).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.length).toBeGreaterThan(0);
    const text = lines.join('');
    const forms = (bytes: Uint8Array) => [
      Buffer.from(bytes).toString('hex'),
      Buffer.from(bytes).toString('base64'),
      Buffer.from(bytes.subarray(0, 24)).toString('base64'),
      Array.from(bytes.subarray(0, 8)).join(','),
    ];
    for (const secret of [marker, alice.identity.publicKey, bob.identity.publicKey]) {
      for (const form of forms(secret)) expect(text).not.toContain(form);
    }
  });
});
