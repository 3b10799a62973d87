import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateIdentity } from '@tandem/crypto/identity';
import { ErrorCode } from '@tandem/proto';
import { TestClient } from '../helpers/client.js';
import { errorCode, expectCase, TestDevice } from '../helpers/device.js';
import { type Stack, startStack } from '../helpers/stack.js';

/** Registration and challenge-response authentication against the real registry. */
describe('authentication', () => {
  let stack: Stack;
  let url: string;
  let alice: TestDevice;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { AUTH_TIMEOUT_MS: '3000', AUTH_MAX_SKEW_MS: '60000' } });
    url = stack.gateways[0]!.url;
    alice = await TestDevice.registerPrimary(stack, url);
  });
  afterAll(async () => {
    await stack.close();
  });

  it('registers a primary over the socket and authenticates it with a signed challenge', async () => {
    expect(alice.deviceId).toBe(1);
    const c = await TestClient.connect(url);
    const answer = expectCase(await alice.authenticateOn(c), 'authenticated');
    expect(answer).toMatchObject({ accountId: alice.accountId, deviceId: 1, isPrimary: true });
    await c.waitPush((f) => f.body.case === 'queueEmpty', 5000, 'queue_empty');
    expect(await c.pingRtt()).toBeLessThan(500);
    c.close();
  });

  it('refuses a signature by another key with AUTH_FAILED and closes 4001', async () => {
    const c = await TestClient.connect(url);
    const r = await c.request(alice.authenticateBody(c, { secret: generateIdentity().secretKey }));
    expect(errorCode(r)).toBe(ErrorCode.AUTH_FAILED);
    expect((await c.closed).code).toBe(4001);
  });

  it('refuses a signature over another realm (no replay across servers)', async () => {
    const c = await TestClient.connect(url);
    const r = await c.request(alice.authenticateBody(c, { realm: 'evil.example' }));
    expect(errorCode(r)).toBe(ErrorCode.AUTH_FAILED);
    expect((await c.closed).code).toBe(4001);
  });

  it('refuses a timestamp outside the skew window', async () => {
    const c = await TestClient.connect(url);
    const r = await c.request(alice.authenticateBody(c, { timestampMs: Date.now() - 120_000 }));
    expect(errorCode(r)).toBe(ErrorCode.AUTH_FAILED);
    expect((await c.closed).code).toBe(4001);
  });

  it('refuses an unknown device with DEVICE_UNKNOWN and closes 4001', async () => {
    const stranger = new TestDevice();
    stranger.accountId = alice.accountId;
    stranger.deviceId = 3;
    const c = await TestClient.connect(url);
    const r = await c.request(stranger.authenticateBody(c));
    expect(errorCode(r)).toBe(ErrorCode.DEVICE_UNKNOWN);
    expect((await c.closed).code).toBe(4001);
  });

  it('refuses a second authenticate on an authenticated socket with FORBIDDEN', async () => {
    const c = await alice.connect(url);
    const r = await c.request(alice.authenticateBody(c));
    expect(errorCode(r)).toBe(ErrorCode.FORBIDDEN);
    c.close();
  });

  it('refuses a wrong verification code with the registry’s code, without closing', async () => {
    const c = await TestClient.connect(url);
    const handle = 'mallory_test';
    expectCase(
      await c.request({
        case: 'registerRequestCode',
        value: { $typeName: 'tandem.v1.RegisterRequestCode', handle },
      }),
      'registerCodeSent',
    );
    const wrong = stack.codes.sent.get(handle) === '000000' ? '111111' : '000000';
    const r = await c.request(new TestDevice().registerVerifyBody(handle, wrong));
    expect(errorCode(r)).toBe(ErrorCode.CODE_INVALID);
    expect(await c.pingRtt()).toBeLessThan(500);
    c.close();
  });
});
