// Issue 19, point 2: a CLI command other than `listen`/`chat` (here `devices`, `send`) connects,
// and the SDK drains the device's queue and acknowledges every copy once its `message` and
// `receipt` listeners ran. The CLI keeps each one in its store (`cli/inbox/…`) before that
// acknowledgement, says so, and `tandem listen` prints it later, once. Before the fix nothing was
// listening: the sender saw `delivered` while the user never saw the message.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, ReceiptEvent, TandemClient } from '../../src/index.js';
import { CLI_TIMEOUT_MS, cli, escapeRegExp, killAll, run, withTimeout } from './cli-harness.js';
import { collect, handle, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('the tandem CLI keeps what a non-listening command drains, and `tandem listen` prints it', () => {
  let stack: Stack;
  let dir: string;
  let storeFile: string;
  const aliceHandle = handle('alice_inbox');
  let aliceAccount: string;
  let bob: TandemClient;

  beforeAll(async () => {
    stack = await startStack();
    dir = await mkdtemp(join(tmpdir(), 'tandem-cli-inbox-e2e-'));
    storeFile = join(dir, 'alice-cli.json');
  });

  afterAll(async () => {
    await killAll();
    await bob?.close();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const common = () => ['--server', stack.url(), '--store', storeFile];
  const inboxKeys = async () =>
    Object.keys(
      (JSON.parse(await readFile(storeFile, 'utf8')) as { entries: Record<string, string> }).entries,
    ).filter((k) => k.startsWith('cli/inbox/'));

  it('a message that arrives while `tandem devices` runs is acknowledged only after it is kept; `tandem listen` then shows it, once', async () => {
    // Alice's CLI device registers; Bob is an SDK device that stays connected.
    const reg = cli(['register', aliceHandle, ...common(), '--name', 'alice cli']);
    await reg.waitFor('stderr', /verification code/, 'the verification code prompt');
    reg.child.stdin.end(`${stack.codes.sent.get(aliceHandle)}\n`);
    await reg.waitFor(
      'stdout',
      /^registered \S+: this device \(alice cli\) is its primary/m,
      'the registration line',
    );
    expect((await withTimeout(reg.exited, 'tandem register to exit')).code).toBe(0);
    bob = await registerPhone(stack, 'bob_inbox');
    aliceAccount = await bob.lookup(aliceHandle);
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const bobReceipts = collect<ReceiptEvent>((fn) => bob.on('receipt', fn));

    // Alice writes to Bob; his device acknowledges it, so a `delivered` receipt heads for the CLI
    // device (kept by `send` itself if it arrives in time, otherwise by `devices` below).
    const sentOut = await run(['send', bob.handle, 'ping from the cli', ...common()]);
    const [, aliceMessageId] = sentOut.match(/^sent to \S+: 1 device \(message (\S+)\)$/m)!;
    await waitUntil(() => onBob.length === 1, "bob's copy of alice's message", CLI_TIMEOUT_MS);

    // Bob writes to Alice while no CLI process runs: the copy waits in her device's queue.
    const sent = await bob.send(aliceAccount, { text: 'written while your cli was off' });
    expect(sent.copies).toHaveLength(1);

    // `tandem devices` connects, lists the devices, and drains the queue on the way.
    const devicesOut = await run(['devices', ...common()]);
    expect(devicesOut).toMatch(/^ 1 +primary +alice cli +CLI +\(this device\)$/m);
    // The drain acknowledged Bob's copy: he hears it was delivered to Alice's device.
    await waitUntil(
      () =>
        bobReceipts.some(
          (r) =>
            r.kind === 'delivered' &&
            r.clientMessageId === sent.clientMessageId &&
            r.device.accountId === aliceAccount &&
            r.device.deviceId === 1,
        ),
      "bob's delivered receipt from alice's CLI device",
      CLI_TIMEOUT_MS,
    );
    // …so the CLI must have kept it, and says so.
    expect(devicesOut).toMatch(
      /^1 new message( and 1 receipt)? kept; run `tandem listen` to read (it|them)$/m,
    );
    expect(await inboxKeys()).not.toHaveLength(0);

    // `tandem listen` prints the kept message (same format as a live one) before the live backlog
    // ends, and the receipt of Alice's own message, whichever command kept it.
    const messageLine = new RegExp(
      `^\\[[^\\]]+\\] ${escapeRegExp(bob.handle)} \\(phone\\): written while your cli was off$`,
      'm',
    );
    const receiptLine = new RegExp(
      `^ {2}delivered to ${escapeRegExp(bob.handle)} \\(phone\\), message ${escapeRegExp(aliceMessageId!)}$`,
      'm',
    );
    const listen = cli(['listen', ...common()]);
    await listen.waitFor('stdout', messageLine, 'the kept message');
    await listen.waitFor('stdout', receiptLine, 'the kept delivered receipt');
    await listen.waitFor('stdout', /^-- up to date --$/m, 'the end of the backlog');
    listen.child.kill('SIGINT');
    expect(await withTimeout(listen.exited, 'tandem listen to exit after SIGINT')).toEqual({
      code: 0,
      signal: null,
    });
    const lines = listen.stdout().split('\n');
    const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
    expect(lines.filter((l) => messageLine.test(l))).toHaveLength(1);
    expect(lines.filter((l) => receiptLine.test(l))).toHaveLength(1);
    expect(at(messageLine)).toBeLessThan(at(/^-- up to date --$/));
    expect(listen.stderr()).not.toMatch(/warning|tandem:/);

    // Printed, so no longer kept: the next `listen` shows neither again.
    expect(await inboxKeys()).toEqual([]);
    const again = cli(['listen', ...common()]);
    await again.waitFor('stdout', /^-- up to date --$/m, 'the end of the (empty) backlog');
    again.child.kill('SIGINT');
    expect((await withTimeout(again.exited, 'the second tandem listen to exit')).code).toBe(0);
    expect(again.stdout()).not.toMatch(messageLine);
    expect(again.stdout()).not.toMatch(receiptLine);
    // Bob got Alice's message once, and nothing more.
    expect(onBob).toHaveLength(1);
  }, 120_000);
});
