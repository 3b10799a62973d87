import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { InboundMessage, TandemClient } from '@tandem/sdk';
import { collect, registerPhone, type Stack, startStack, waitUntil } from '@tandem/sdk/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { encodeHistory } from '../../src/history.js';
import {
  haveChromium,
  launchChromium,
  recordTraffic,
  resultsDir,
  screenshot,
  servePage,
  type Traffic,
} from '../browser.js';

// Every message text of this file, so the traffic and storage checks can look for each of them.
const TEXTS = {
  historyFromBob: 'Are we still on for climbing on Saturday?',
  historyToBob: 'Yes! 10am at the usual wall.',
  bobToAlice: 'Running 10 minutes late, sorry',
  webToBob: "No worries, I'm typing this in the browser",
  phoneToBob: '(and this one from my phone)',
  bobWhilePhoneOff: 'Your phone is off? And you still got this?',
  webWhilePhoneOff: 'Yep, the browser works on its own',
  webAfterReload: 'Reloaded the page: still linked',
  bobAfterReload: 'See you at the wall 🧗',
} as const;

const describeBrowser = haveChromium ? describe : describe.skip;

/** What the page keeps in IndexedDB: the keys store's key names, and the messages' texts. */
async function pageStorage(page: Page): Promise<{ keys: string[]; texts: string[] }> {
  return page.evaluate(
    () =>
      new Promise<{ keys: string[]; texts: string[] }>((resolve, reject) => {
        const req = indexedDB.open('tandem-web');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const tx = db.transaction(['keys', 'messages'], 'readonly');
          const keys = tx.objectStore('keys').getAllKeys();
          const msgs = tx.objectStore('messages').getAll();
          tx.oncomplete = () => {
            resolve({
              keys: keys.result.map(String),
              texts: (msgs.result as Array<{ text: string }>).map((m) => m.text),
            });
            db.close();
          };
        };
      }),
  );
}

describeBrowser('the web companion in Chromium, against the whole stack', () => {
  let stack: Stack;
  let site: { url: string; close: () => Promise<void> };
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let traffic: Traffic;
  let pageUrl: string;
  let phone: TandemClient;
  let bob: TandemClient;
  let webDeviceId: number;
  const markers: string[] = [];
  const say = (name: keyof typeof TEXTS) => {
    const m = TEXTS[name];
    markers.push(m);
    return m;
  };
  const msg = (text: string) => page.locator('#messages .msg', { hasText: text });

  beforeAll(async () => {
    await mkdir(resultsDir, { recursive: true });
    [stack, site, browser] = await Promise.all([startStack(), servePage(), launchChromium()]);
    context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => void d.accept());
    traffic = recordTraffic(page);
    pageUrl = `${site.url}?server=${stack.url()}`;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([phone?.close(), bob?.close()]);
    await browser?.close();
    await site?.close();
    await stack?.close();
  }, 60_000);

  it('shows a QR code, the payload as text, and the gateway it talks to', async () => {
    await page.goto(pageUrl);
    await page.waitForFunction(() =>
      (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value.startsWith('tandem1:'),
    );
    expect(await page.locator('#gateway-url').textContent()).toBe(stack.url());
    const canvas = page.locator('#qr');
    expect(await canvas.isVisible()).toBe(true);
    // The canvas holds a drawn code: both dark and light pixels.
    const shades = await canvas.evaluate((c: HTMLCanvasElement) => {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let dark = 0;
      let light = 0;
      for (let i = 0; i < data.length; i += 4) data[i]! < 128 ? dark++ : light++;
      return { dark, light };
    });
    expect(shades.dark).toBeGreaterThan(1000);
    expect(shades.light).toBeGreaterThan(1000);
    expect(await page.locator('#link-status').textContent()).toMatch(/Waiting for your phone/);
    expect(await page.locator('#screen-chat').isVisible()).toBe(false);
    expect(await page.locator('#banner').isVisible()).toBe(false);
    await page.screenshot({ path: join(resultsDir, 'qr-screen.png') });
  }, 30_000);

  it("links when the phone approves the code read from the page, then shows the phone's history", async () => {
    phone = await registerPhone(stack, 'alice');
    bob = await registerPhone(stack, 'bob');
    const qr = await page.locator('#qr-text').inputValue();
    ({ deviceId: webDeviceId } = await phone.approveLink(qr));
    await page.waitForSelector('body[data-screen="chat"]');
    await page.waitForSelector('#conn[data-state="online"]');
    expect(await page.locator('#screen-link').isVisible()).toBe(false);
    expect(await page.locator('#me-handle').textContent()).toBe(phone.handle);
    expect(await page.locator('#me-device').textContent()).toBe(String(webDeviceId));
    await page.locator(`#devices li[data-device="${webDeviceId}"]`).waitFor();
    expect(await page.locator('#devices li').count()).toBe(2);
    expect(await page.locator('#devices li[data-device="1"]').textContent()).toContain("alice's phone");

    const old1 = say('historyFromBob');
    const old2 = say('historyToBob');
    await phone.sendHistory(
      webDeviceId,
      encodeHistory([
        { with: bob.accountId, from: bob.accountId, text: old1, at: Date.now() - 60_000, handle: bob.handle },
        { with: bob.accountId, from: phone.accountId, text: old2, at: Date.now() - 30_000 },
      ]),
    );
    await msg(old2).waitFor();
    expect(await msg(old1).getAttribute('class')).toContain('in');
    expect(await msg(old2).getAttribute('class')).toContain('out');
    expect(await msg(old1).getAttribute('data-source')).toBe('history');
    expect(await page.locator('#conv-title').textContent()).toBe(bob.handle);
  }, 60_000);

  it('sends and receives, with delivered marks per device and the safety number', async () => {
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const onPhone = collect<InboundMessage>((fn) => phone.on('message', fn));

    // bob → alice: reaches the page (and the phone).
    const fromBob = say('bobToAlice');
    await bob.send(phone.accountId, { text: fromBob });
    await msg(fromBob).waitFor();

    // The page → bob, typed into the composer.
    await page.locator(`#conversations li[data-account="${bob.accountId}"]`).click();
    const fromWeb = say('webToBob');
    await page.locator('#composer-text').fill(fromWeb);
    await page.locator('#composer-send').click();
    await waitUntil(() => onBob.some((m) => m.text === fromWeb), 'bob to receive the message from the page');
    await waitUntil(
      () => onPhone.some((m) => m.text === fromWeb && m.sentTo === bob.accountId),
      "the phone's sync copy",
    );
    // Both copies (bob's phone, alice's phone) are acknowledged: a delivered mark for each.
    await msg(fromWeb).locator(`.mark[data-device="${bob.accountId}/1"][data-state="delivered"]`).waitFor();
    await msg(fromWeb).locator(`.mark[data-device="${phone.accountId}/1"][data-state="delivered"]`).waitFor();

    // The phone → bob: the page shows the sync copy as one of this account's messages.
    const fromPhone = say('phoneToBob');
    await phone.send(bob.accountId, { text: fromPhone });
    await msg(fromPhone).waitFor();
    expect(await msg(fromPhone).getAttribute('class')).toContain('out');
    expect(await msg(fromPhone).textContent()).toContain('sent from your');

    const shown = (await page.locator('#safety-number').textContent())?.replaceAll(' ', '');
    expect(shown).toBe(await phone.safetyNumber(bob.accountId));
    expect(shown).toMatch(/^\d{60}$/);
    await screenshot(page, 'conversation.png', { docs: true });
  }, 60_000);

  it('keeps sending and receiving with the phone offline', async () => {
    await phone.close();
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const fromBob = say('bobWhilePhoneOff');
    await bob.send(phone.accountId, { text: fromBob });
    await msg(fromBob).waitFor();

    const fromWeb = say('webWhilePhoneOff');
    await page.locator('#composer-text').fill(fromWeb);
    await page.locator('#composer-send').click();
    await waitUntil(() => onBob.some((m) => m.text === fromWeb), 'bob to receive while the phone is off');
    await msg(fromWeb).locator(`.mark[data-device="${bob.accountId}/1"][data-state="delivered"]`).waitFor();
    // The phone's copy waits in its queue: no mark beyond "queued" for it.
    expect(
      await msg(fromWeb).locator(`.mark[data-device="${phone.accountId}/1"]`).getAttribute('data-state'),
    ).toBe('queued');
  }, 30_000);

  it('stays linked across a reload, with its conversations', async () => {
    await page.reload();
    await page.waitForSelector('body[data-screen="chat"]');
    await page.waitForSelector('#conn[data-state="online"]');
    await page.locator(`#conversations li[data-account="${bob.accountId}"]`).click();
    for (const m of markers) await msg(m).waitFor();
    const onBob = collect<InboundMessage>((fn) => bob.on('message', fn));
    const after = say('webAfterReload');
    await page.locator('#composer-text').fill(after);
    await page.locator('#composer-send').click();
    await waitUntil(() => onBob.some((m) => m.text === after), 'bob to receive after the reload');
    const fromBob = say('bobAfterReload');
    await bob.send(phone.accountId, { text: fromBob });
    await msg(fromBob).waitFor();
  }, 30_000);

  it('gives way to the same device opened in a second tab, and takes over again on request', async () => {
    const second = await context.newPage();
    recordTraffic(second);
    try {
      await second.goto(pageUrl);
      await second.waitForSelector('#conn[data-state="online"]');
      // One socket per device: the first tab is displaced, and says so instead of fighting back.
      await page.waitForSelector('#conn[data-state="offline"]');
      expect(await page.locator('#banner-text').textContent()).toMatch(/another tab/);
      await second.close();
      await page.locator('#banner-action').click();
      await page.waitForSelector('#conn[data-state="online"]');
      const fromBob = 'Back in the first tab?';
      markers.push(fromBob);
      await bob.send(phone.accountId, { text: fromBob });
      await msg(fromBob).waitFor();
    } finally {
      if (!second.isClosed()) await second.close();
    }
  }, 30_000);

  it('puts no plaintext on the wire, nor in localStorage, sessionStorage or cookies', async () => {
    expect(markers).toEqual(expect.arrayContaining(Object.values(TEXTS))); // every text was sent
    expect(traffic.sockets.length).toBeGreaterThanOrEqual(2); // the linking socket, and after the reload
    expect(traffic.frames.length).toBeGreaterThan(20);
    // The recorder does see what travels in the clear: the device name the page sends in linkStart.
    expect(traffic.frames.some((frame) => frame.includes('Chrome (web)'))).toBe(true);
    const leaks = traffic.frames.flatMap((frame) => markers.filter((text) => frame.includes(text)));
    expect(leaks).toEqual([]);
    // The page talks to its own origin (static files) and the gateway, nothing else.
    for (const url of traffic.requests) expect(url.startsWith(site.url)).toBe(true);
    for (const url of traffic.sockets) expect(url).toBe(stack.url());
    const web = await page.evaluate(() => ({
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      cookies: document.cookie,
    }));
    const cookies = (await context.cookies()).map((c) => c.value);
    for (const where of [web.local, web.session, web.cookies, ...cookies]) {
      for (const text of markers) expect(where).not.toContain(text);
    }
    // The conversations are in IndexedDB, the one place the page keeps them.
    const stored = await pageStorage(page);
    expect(stored.texts).toEqual(expect.arrayContaining(markers));
    expect(stored.keys).toContain('device');
  }, 30_000);

  it('returns to the QR screen within a second of the phone unlinking it, and wipes its storage', async () => {
    await phone.connect();
    const started = Date.now();
    await phone.unlink(webDeviceId);
    await page.locator('#screen-link').waitFor({ state: 'visible', timeout: 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await page.locator('#screen-chat').isVisible()).toBe(false);
    await page.waitForFunction(() =>
      (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value.startsWith('tandem1:'),
    );
    const stored = await pageStorage(page);
    expect(stored.texts).toEqual([]);
    expect(stored.keys).toEqual([]);
    expect(await page.locator('#banner-text').textContent()).toMatch(/unlinked/);
    expect((await phone.devices()).map((d) => d.deviceId)).toEqual([1]);
  }, 30_000);

  it('links again from the new code and unlinks itself with its own button', async () => {
    const qr = await page.locator('#qr-text').inputValue();
    const { deviceId } = await phone.approveLink(qr);
    await page.waitForSelector('body[data-screen="chat"]');
    expect(await page.locator('#me-device').textContent()).toBe(String(deviceId));
    // A fresh device: nothing of the previous link survived.
    expect(await page.locator('#messages .msg').count()).toBe(0);
    await page.locator('#unlink').click();
    await page.waitForSelector('body[data-screen="link"]');
    const devices = await phone.devices();
    expect(devices.map((d) => d.deviceId)).toEqual([1]);
    expect((await pageStorage(page)).keys).toEqual([]);
  }, 30_000);

  it('shows the QR screen when it reopens after the phone unlinked it while it was closed', async () => {
    const qr = await page.locator('#qr-text').inputValue();
    const { deviceId } = await phone.approveLink(qr);
    await page.waitForSelector('#conn[data-state="online"]');
    await page.goto('about:blank');
    await phone.unlink(deviceId);
    await page.goto(pageUrl);
    await page.locator('#screen-link').waitFor({ state: 'visible' });
    await page.waitForFunction(() =>
      (document.getElementById('qr-text') as HTMLTextAreaElement | null)?.value.startsWith('tandem1:'),
    );
    expect((await pageStorage(page)).keys).toEqual([]);
    expect(await page.locator('#banner-text').textContent()).toMatch(/unlinked/);
  }, 30_000);
});
