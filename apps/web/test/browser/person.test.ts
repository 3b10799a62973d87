// The web companion as a person uses it: unread conversations, started conversations that stay,
// the safety number right after a reload, a phone-wide screen, the page's icon, and errors shown
// where they happen (a send the server refuses, the browser going offline).
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TandemClient } from '@tandem/sdk';
import { registerPhone, type Stack, startStack } from '@tandem/sdk/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { haveChromium, launchChromium, resultsDir, screenshot, servePage } from '../browser.js';

const describeBrowser = haveChromium ? describe : describe.skip;

/** Copies a device may have queued: small, so a send to an offline contact is soon refused. */
const QUEUE_MAX_COPIES = 3;
const PHONE = { width: 420, height: 820 };
const DESKTOP = { width: 1100, height: 720 };

/** Nothing wider than the viewport, and nothing of the header cut off. */
async function expectFits(page: Page): Promise<void> {
  const m = await page.evaluate(() => {
    const d = document.documentElement;
    const header = document.querySelector('header.top') as HTMLElement;
    const box = header.getBoundingClientRect();
    const clipped = [...header.querySelectorAll<HTMLElement>('*')]
      .filter((e) => {
        const r = e.getBoundingClientRect();
        if (r.width === 0) return false;
        const outside =
          r.left < -0.5 ||
          r.right > d.clientWidth + 0.5 ||
          r.top < box.top - 0.5 ||
          r.bottom > box.bottom + 0.5;
        return outside || e.scrollWidth > e.clientWidth + 1;
      })
      .map((e) => e.id || e.className || e.tagName);
    return {
      scrollWidth: d.scrollWidth,
      clientWidth: d.clientWidth,
      headerScroll: header.scrollWidth,
      headerClient: header.clientWidth,
      clipped,
    };
  });
  expect(m.clientWidth).toBe(PHONE.width);
  expect(m.scrollWidth).toBeLessThanOrEqual(m.clientWidth);
  expect(m.headerScroll).toBeLessThanOrEqual(m.headerClient);
  expect(m.clipped).toEqual([]);
}

describeBrowser('the web companion as a person uses it', () => {
  let stack: Stack;
  let site: { url: string; close: () => Promise<void> };
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pageUrl: string;
  let alice: TandemClient;
  let bob: TandemClient;
  let carol: TandemClient;
  /** Every HTTP response of 400 or more the page got. */
  const failed: string[] = [];

  const conv = (c: TandemClient) => page.locator(`#conversations li[data-account="${c.accountId}"]`);
  const msg = (text: string) => page.locator('#messages .msg', { hasText: text });
  const start = async (c: TandemClient) => {
    await page.locator('#new-chat-handle').fill(c.handle);
    await page.locator('#new-chat button').click();
    await page.waitForFunction((h) => document.getElementById('conv-title')?.textContent === h, c.handle);
  };

  beforeAll(async () => {
    await mkdir(resultsDir, { recursive: true });
    [stack, site, browser] = await Promise.all([
      startStack({ deliveryEnv: { QUEUE_MAX_COPIES: String(QUEUE_MAX_COPIES) } }),
      servePage(),
      launchChromium(),
    ]);
    context = await browser.newContext({ viewport: PHONE });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => void d.accept());
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    pageUrl = `${site.url}?server=${stack.url()}`;
    [alice, bob, carol] = await Promise.all([
      registerPhone(stack, 'alice'),
      registerPhone(stack, 'bob'),
      registerPhone(stack, 'carol'),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([alice?.close(), bob?.close(), carol?.close()]);
    await browser?.close();
    await site?.close();
    await stack?.close();
  }, 60_000);

  it('fits a phone-wide screen with the QR code, and has an icon (no request fails)', async () => {
    await page.goto(pageUrl);
    await page.waitForFunction(() =>
      (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value.startsWith('tandem1:'),
    );
    await expectFits(page);
    const qr = await page.locator('#qr').boundingBox();
    expect(qr!.x).toBeGreaterThanOrEqual(0);
    expect(qr!.x + qr!.width).toBeLessThanOrEqual(PHONE.width);
    // The icon the page names, and /favicon.ico for whoever asks for that path.
    const icons = await page.evaluate(async () => {
      const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]')!;
      const get = async (url: string) => {
        const r = await fetch(url);
        return {
          status: r.status,
          type: r.headers.get('content-type'),
          size: (await r.arrayBuffer()).byteLength,
        };
      };
      return { linked: await get(link.href), ico: await get('/favicon.ico') };
    });
    expect(icons.linked).toMatchObject({ status: 200, type: 'image/svg+xml' });
    expect(icons.ico).toMatchObject({ status: 200, type: 'image/x-icon' });
    expect(icons.ico.size).toBeGreaterThan(100);
    await screenshot(page, 'phone-qr.png');
    expect(failed).toEqual([]);
  }, 30_000);

  it('on a phone, shows the list, then one conversation at a time with a way back', async () => {
    await alice.approveLink(await page.locator('#qr-text').inputValue());
    await page.waitForSelector('#conn[data-state="online"]');
    await page.waitForSelector('body[data-pane="list"]');
    expect(await page.locator('#conversations').isVisible()).toBe(true);
    expect(await page.locator('#composer').isVisible()).toBe(false);
    await expectFits(page);

    await start(bob);
    await page.waitForSelector('body[data-pane="conversation"]');
    expect(await page.locator('#composer').isVisible()).toBe(true);
    expect(await page.locator('#conversations').isVisible()).toBe(false);
    await page
      .locator('#safety-number')
      .filter({ hasText: /^\d{5}( \d{5}){11}$/ })
      .waitFor();
    await expectFits(page);
    const text = 'Typing on a narrow screen, with a long word: supercalifragilisticexpialidocious-and-more';
    await page.locator('#composer-text').fill(text);
    await page.locator('#composer-send').click();
    await msg(text).waitFor();
    await msg(text).locator(`.mark[data-device="${bob.accountId}/1"][data-state="delivered"]`).waitFor();
    await expectFits(page);
    await screenshot(page, 'phone-conversation.png', { docs: true });

    await page.locator('#back').click();
    await page.waitForSelector('body[data-pane="list"]');
    await conv(bob).waitFor();
    await expectFits(page);
    await screenshot(page, 'phone-list.png');
  }, 60_000);

  it('keeps a started conversation with no messages in the list when you switch away, and after a reload', async () => {
    await page.setViewportSize(DESKTOP);
    await start(carol);
    expect(await conv(carol).textContent()).toContain('no messages yet');
    await conv(bob).click();
    await page.waitForFunction((h) => document.getElementById('conv-title')?.textContent === h, bob.handle);
    // Carol's conversation, still empty, is still there.
    expect(await conv(carol).textContent()).toContain('no messages yet');
    await page.reload();
    await page.waitForSelector('#conn[data-state="online"]');
    await conv(carol).waitFor();
    await conv(bob).waitFor();
  }, 30_000);

  it('shows the safety number as soon as the socket is connected after a reload', async () => {
    await page.reload();
    await page.waitForSelector('#conn[data-state="online"]');
    // The newest conversation with messages opens (carol's, still empty, is listed last).
    expect(await page.locator('#conv-title').textContent()).toBe(bob.handle);
    expect(
      await page.locator('#conversations li.conv').evaluateAll((l) => l.map((e) => e.dataset.account)),
    ).toEqual([bob.accountId, carol.accountId]);
    // Right away, not "available when connected".
    const code = page.locator('#safety-number');
    await code.filter({ hasText: /^\d{5}( \d{5}){11}$/ }).waitFor({ timeout: 2000 });
    expect((await code.textContent())?.replaceAll(' ', '')).toBe(await alice.safetyNumber(bob.accountId));
  }, 30_000);

  it('marks a conversation that is not open bold, with its unread count, until it is opened', async () => {
    await conv(carol).click();
    await page.waitForFunction((h) => document.getElementById('conv-title')?.textContent === h, carol.handle);
    const first = 'Bob here: are you around?';
    const second = 'Bob again: ping';
    await bob.send(alice.accountId, { text: first });
    await bob.send(alice.accountId, { text: second });
    await page.waitForSelector(`#conversations li[data-account="${bob.accountId}"][data-unread="2"]`);
    expect(await conv(bob).locator('.badge').textContent()).toBe('2');
    expect(await conv(bob).getAttribute('class')).toContain('unread');
    const weight = await conv(bob)
      .locator('.conv-name')
      .evaluate((e) => Number(getComputedStyle(e).fontWeight));
    expect(weight).toBeGreaterThanOrEqual(700);
    expect(await conv(bob).locator('.preview').textContent()).toBe(second);
    // Carol's conversation stayed open; Bob's messages are not shown in it.
    expect(await page.locator('#conv-title').textContent()).toBe(carol.handle);
    expect(await msg(first).count()).toBe(0);
    expect(await page.title()).toBe('(2) Tandem web');

    // A message in the open conversation is read as it arrives.
    const fromCarol = 'Carol: this one you are reading';
    await carol.send(alice.accountId, { text: fromCarol });
    await msg(fromCarol).waitFor();
    expect(await conv(carol).getAttribute('data-unread')).toBe('0');
    await screenshot(page, 'unread.png', { docs: true });

    // Unread survives a reload.
    await page.reload();
    await page.waitForSelector(`#conversations li[data-account="${bob.accountId}"][data-unread="2"]`);
    expect(await page.locator('#conv-title').textContent()).toBe(carol.handle);

    await conv(bob).click();
    await msg(second).waitFor();
    await page.waitForSelector(`#conversations li[data-account="${bob.accountId}"][data-unread="0"]`);
    expect(await conv(bob).locator('.badge').count()).toBe(0);
    expect(await conv(bob).getAttribute('class')).not.toContain('unread');
    expect(await page.title()).toBe('Tandem web');
    await page.reload();
    await page.waitForSelector('#conn[data-state="online"]');
    expect(await conv(bob).getAttribute('data-unread')).toBe('0');
  }, 60_000);

  it('shows a send the server refuses under the composer, keeps the text, and clears it on switching', async () => {
    await carol.close(); // carol's phone is off: copies for it pile up until the queue is full
    await conv(carol).click();
    await page.waitForFunction((h) => document.getElementById('conv-title')?.textContent === h, carol.handle);
    const error = page.locator('#send-error');
    let refused = '';
    for (let i = 0; i <= QUEUE_MAX_COPIES && !refused; i++) {
      const text = `queued for carol #${i}`;
      await page.locator('#composer-text').fill(text);
      await page.locator('#composer-send').click();
      await Promise.race([msg(text).waitFor(), error.waitFor()]);
      if (await error.isVisible()) refused = text;
    }
    expect(refused).toBe(`queued for carol #${QUEUE_MAX_COPIES}`);
    expect(await error.textContent()).toMatch(/Not sent: .*queue is full/);
    expect(await page.locator('#composer-text').inputValue()).toBe(refused);
    expect(await msg(refused).count()).toBe(0);
    await screenshot(page, 'send-refused.png');
    // The error belongs to carol's conversation: it does not follow you to bob's.
    await conv(bob).click();
    expect(await error.isVisible()).toBe(false);
  }, 30_000);

  it('says the browser is offline (not just "reconnecting"), and reconnects when it is back', async () => {
    await context.setOffline(true);
    await page.waitForSelector('#conn[data-state="offline"]');
    await page.waitForSelector('#banner[data-kind="offline"]');
    expect(await page.locator('#banner-text').textContent()).toMatch(/This browser is offline/);
    await page.locator('#composer-text').fill('written while offline');
    await page.locator('#composer-send').click();
    await page.locator('#send-error').waitFor();
    expect(await page.locator('#send-error').textContent()).toMatch(/Not sent: this browser is offline/);
    expect(await page.locator('#composer-text').inputValue()).toBe('written while offline');
    await screenshot(page, 'offline.png');

    await context.setOffline(false);
    await page.waitForSelector('#conn[data-state="online"]', { timeout: 20_000 });
    expect(await page.locator('#banner').isVisible()).toBe(false);
    await page.locator('#composer-send').click();
    await msg('written while offline').waitFor();
    expect(await page.locator('#send-error').isVisible()).toBe(false);
    expect(failed).toEqual([]);
  }, 45_000);
});
