// Issue 19, point 1: `tandem register` asks for the verification code on the socket it opened; a
// person takes longer than the gateway's authentication timeout to copy it. The gateway keeps a
// socket that was sent a code open for REGISTRATION_WINDOW_MS instead, so registration succeeds
// when the code is typed long after AUTH_TIMEOUT_MS (here 1 s, the code typed after 4 s).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cli, killAll, withTimeout } from './cli-harness.js';
import { handle, type Stack, startStack } from './stack.js';

describe('tandem register at human speed', () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { AUTH_TIMEOUT_MS: '1000' } });
    dir = await mkdtemp(join(tmpdir(), 'tandem-cli-slow-'));
  });
  afterAll(async () => {
    await killAll();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('succeeds when the code is typed four times the authentication timeout later', async () => {
    const h = handle('slowtypist');
    const reg = cli(['register', h, '--server', stack.url(), '--store', join(dir, 'phone.json')]);
    await reg.waitFor('stderr', /verification code/, 'the verification code prompt');
    await new Promise((r) => setTimeout(r, 4000));
    reg.child.stdin.end(`${stack.codes.sent.get(h)}\n`);
    await reg.waitFor(
      'stdout',
      /^registered \S+: this device \(phone\) is its primary/m,
      'the registration line',
    );
    expect((await withTimeout(reg.exited, 'tandem register to exit')).code).toBe(0);
    expect(reg.stderr()).not.toMatch(/not connected/);
  }, 60_000);
});
