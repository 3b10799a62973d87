import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TandemClient } from '@tandem/sdk';
import { options, registerPhone, type Stack, startStack } from '@tandem/sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../../serve.mjs';
import { haveChromium, launchChromium, resultsDir, servePage } from '../browser.js';
import { Relay } from '../proxy.js';

const describeBrowser = haveChromium ? describe : describe.skip;

// Short lifetimes so the expiry states show within a test: a QR code lives 3 s, a queued copy 2 s.
const LINK_TTL_MS = 3000;

describeBrowser('the states a person can run into', () => {
  let stack: Stack;
  let site: { url: string; dir: string; close: () => Promise<void> };
  let browser: Browser;
  let page: Page;
  let relay: Relay;
  const clients: TandemClient[] = [];

  const qrText = () => page.locator('#qr-text').inputValue();
  const waitForQr = (except = '') =>
    page.waitForFunction(
      (old) => {
        const v = (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value ?? '';
        return v.startsWith('tandem1:') && v !== old;
      },
      except,
      { timeout: 10_000 },
    );

  /** A code just shown, so the phone approves it well within its short lifetime. */
  const freshQr = async () => {
    const old = await qrText();
    if (!(await page.locator('#new-qr').isVisible())) {
      await page.waitForSelector('#link-status[data-state="expired"]', { timeout: LINK_TTL_MS + 5000 });
    }
    await page.locator('#new-qr').click();
    await waitForQr(old);
    return qrText();
  };

  beforeAll(async () => {
    [stack, site, browser] = await Promise.all([
      startStack({
        registryEnv: { LINK_SESSION_TTL_MS: String(LINK_TTL_MS) },
        deliveryEnv: { COPY_TTL_MS: '2000', SWEEP_INTERVAL_MS: '100' },
      }),
      servePage(),
      launchChromium(),
    ]);
    page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => void d.accept());
    relay = Relay.create(await Relay.freePort(), stack.url());
  }, 120_000);

  afterAll(async () => {
    await relay?.stop();
    await Promise.allSettled(clients.map((c) => c.close()));
    await browser?.close();
    await site?.close();
    await stack?.close();
  }, 60_000);

  it('says when the gateway is unreachable, and shows a QR code as soon as it answers', async () => {
    await page.goto(`${site.url}?server=ws://127.0.0.1:${relay.port}/v1/ws`);
    await page.waitForSelector('#link-status[data-reason="unreachable"]');
    expect(await page.locator('#link-status').textContent()).toMatch(
      /Cannot reach the gateway at ws:\/\/127\.0\.0\.1:\d+\/v1\/ws.*Reconnecting in \d+ s/,
    );
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('reconnecting');
    expect(await page.locator('#qr').isVisible()).toBe(false);
    await relay.start();
    await waitForQr();
    expect(await page.locator('#qr').isVisible()).toBe(true);
  }, 30_000);

  it('offers a new QR code when the shown one expires', async () => {
    const first = await qrText();
    await page.waitForSelector('#link-status[data-state="expired"]', { timeout: LINK_TTL_MS + 5000 });
    expect(await page.locator('#link-status').textContent()).toMatch(/expired/);
    expect(await page.locator('#qr').isVisible()).toBe(false);
    await page.locator('#new-qr').click();
    await waitForQr(first);
    expect(await page.locator('#new-qr').isVisible()).toBe(false);
    expect(await page.locator('#link-status').getAttribute('data-state')).toBe('waiting');
  }, 30_000);

  it('explains a refusal when the account already has four companions', async () => {
    const erin = await registerPhone(stack, 'erin');
    clients.push(erin);
    for (let i = 0; i < 4; i++) {
      const s = await TandemClient.link({ ...options(stack), name: `tablet ${i}` });
      await erin.approveLink(s.qr);
      clients.push(await s.done);
    }
    const first = await freshQr();
    await expect(erin.approveLink(first)).rejects.toMatchObject({ code: 'DEVICE_LIMIT' });
    await page.waitForSelector('#link-status[data-reason="cancelled"]');
    expect(await page.locator('#link-status').textContent()).toMatch(/4 linked companions/);
    expect(await page.locator('#new-qr').isVisible()).toBe(true);
    await page.screenshot({ path: join(resultsDir, 'device-limit.png') });
  }, 60_000);

  let carol: TandemClient;
  let dave: TandemClient;

  it('shows reconnecting while the gateway is away, refuses to send meanwhile, and comes back', async () => {
    carol = await registerPhone(stack, 'carol');
    dave = await registerPhone(stack, 'dave');
    clients.push(carol, dave);
    await carol.approveLink(await freshQr());
    await page.waitForSelector('#conn[data-state="online"]');

    // Starting a conversation: an unknown handle is explained, a known one opens the conversation.
    await page.locator('#new-chat-handle').fill('nobody_at_all');
    await page.locator('#new-chat button').click();
    await page.locator('#new-chat-error').waitFor();
    expect(await page.locator('#new-chat-error').textContent()).toMatch(/nobody_at_all.*not found/);
    await page.locator('#new-chat-handle').fill(dave.handle);
    await page.locator('#new-chat button').click();
    await page.waitForFunction((h) => document.getElementById('conv-title')?.textContent === h, dave.handle);
    expect(await page.locator('#new-chat-error').isVisible()).toBe(false);

    await relay.stop();
    await page.waitForSelector('#conn[data-state="reconnecting"]');
    expect(await page.locator('#banner-text').textContent()).toMatch(/Reconnecting/);
    await page.locator('#composer-text').fill('not going anywhere');
    await page.locator('#composer-send').click();
    await page.locator('#send-error').waitFor();
    expect(await page.locator('#send-error').textContent()).toMatch(/Not sent: not connected/);
    // The text stays in the composer, to send again.
    expect(await page.locator('#composer-text').inputValue()).toBe('not going anywhere');

    await relay.start();
    await page.waitForSelector('#conn[data-state="online"]', { timeout: 15_000 });
    expect(await page.locator('#banner').isVisible()).toBe(false);
  }, 60_000);

  it('marks a message expired for each device that never fetched it', async () => {
    await Promise.all([carol.close(), dave.close()]); // both phones stay offline past the copy TTL
    await page.locator('#composer-send').click();
    const sent = page.locator('#messages .msg', { hasText: 'not going anywhere' });
    await sent.waitFor();
    for (const who of [dave.accountId, carol.accountId]) {
      const mark = sent.locator(`.mark[data-device="${who}/1"][data-state="expired"]`);
      await mark.waitFor({ timeout: 10_000 });
      expect(await mark.textContent()).toMatch(/expired/);
    }
    await page.screenshot({ path: join(resultsDir, 'expired.png') });
  }, 30_000);

  it('notices an unlink that happened while it was offline, once it reconnects', async () => {
    const deviceId = Number(await page.locator('#me-device').textContent());
    await relay.stop();
    await page.waitForSelector('#conn[data-state="reconnecting"]');
    await carol.connect();
    await carol.unlink(deviceId);
    await relay.start();
    await page.locator('#screen-link').waitFor({ state: 'visible', timeout: 15_000 });
    await waitForQr();
    expect(await page.locator('#banner-text').textContent()).toMatch(/unlinked/);
  }, 30_000);

  it('finds the gateway on its own origin when serve.mjs relays /v1/ws (no ?server=)', async () => {
    const relayed = await startServer({ root: site.dir, port: 0, gateway: stack.url() });
    const other = await browser.newPage();
    try {
      await other.goto(relayed.url);
      const sameOrigin = `ws://127.0.0.1:${relayed.port}/v1/ws`;
      expect(await other.locator('#gateway-url').textContent()).toBe(sameOrigin);
      await other.waitForFunction(() =>
        (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value.startsWith('tandem1:'),
      );
      const frank = await registerPhone(stack, 'frank');
      clients.push(frank);
      await frank.approveLink(await other.locator('#qr-text').inputValue());
      await other.waitForSelector('#conn[data-state="online"]');
      expect(await other.locator('#me-handle').textContent()).toBe(frank.handle);
    } finally {
      await other.close();
      await relayed.close();
    }
  }, 30_000);
});
