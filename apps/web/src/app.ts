import { Platform } from '@tandem/proto';
import {
  describeError,
  type InboundMessage,
  type LinkSession,
  type ReceiptEvent,
  TandemClient,
  TandemError,
  type TrustedDevice,
} from '@tandem/sdk';
import QRCode from 'qrcode';
import {
  type ChatMessage,
  ChatStore,
  type CopyState,
  conversationMessages,
  deviceKey,
  groupConversations,
  historyMessages,
  markRead,
} from './chats.js';
import { formatSafetyNumber } from './format.js';
import { parseHistory } from './history.js';
import { IndexedDbStore } from './idb.js';

const RECONNECT = { min: 250, max: 10_000 };
/** How long a call made while reconnecting waits for the socket (the SDK would wait 15 s). */
const CONNECTION_WAIT_MS = 2_000;
/** At most this wide, the page shows one pane at a time: the list, or the open conversation. */
const NARROW = '(max-width: 640px)';
const TITLE = 'Tandem web';

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return e as T;
}

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  // Text goes in as text nodes only: nothing a message contains is ever parsed as HTML.
  for (const c of children) e.append(c);
  return e;
}

const time = (ms: number) =>
  new Date(ms).toLocaleString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    day: 'numeric',
    month: 'short',
  });

function browserName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  return `${browser} (web)`;
}

type Screen = 'starting' | 'link' | 'chat';

/**
 * The page: linking by QR, then conversations. One TandemClient at a time; every async step
 * checks it still belongs to the current client (`this.client === client`) so an unlink in the
 * middle of something leaves no stale state behind.
 */
export class App {
  private readonly keys: IndexedDbStore;
  private readonly chats: ChatStore;
  private client: TandemClient | undefined;
  private link: LinkSession | undefined;
  private linkAttempt = 0;
  private linkFailures = 0;
  private linkTimers: Array<ReturnType<typeof setTimeout>> = [];
  private messages: ChatMessage[] = [];
  private contacts = new Map<string, string>();
  private ownDevices: TrustedDevice[] = [];
  private selected: string | undefined;
  /** Receipts that arrived before the send they belong to was recorded. */
  private readonly earlyReceipts = new Map<string, Array<[string, CopyState]>>();
  private readonly safetyChanged = new Set<string>();
  private readonly narrow = window.matchMedia(NARROW);
  /** What the connection pill and banner say for the socket (the browser's own offline state aside). */
  private connState: { state: 'online' | 'reconnecting' | 'offline' | 'linking'; text: string } = {
    state: 'offline',
    text: 'starting…',
  };
  private connBanner: string | undefined;

  constructor(
    db: IDBDatabase,
    readonly url: string,
  ) {
    this.keys = new IndexedDbStore(db);
    this.chats = new ChatStore(db);
  }

  async start(): Promise<void> {
    el('gateway-url').textContent = this.url;
    this.bindStaticHandlers();
    if (await this.keys.get('device')) await this.openExisting();
    else await this.startLinking();
  }

  // -----------------------------------------------------------------------------------------
  // Screens and status

  private show(screen: Screen): void {
    for (const s of ['starting', 'link', 'chat'] as const) el(`screen-${s}`).hidden = s !== screen;
    document.body.dataset.screen = screen;
  }

  private setConn(state: 'online' | 'reconnecting' | 'offline' | 'linking', text: string): void {
    this.connState = { state, text };
    this.renderConn();
  }

  /**
   * The pill, and the banner about the connection. While the browser says it is offline, that
   * is what both say: the socket's own state ("reconnecting…") would only hide the cause.
   */
  private renderConn(): void {
    const pill = el('conn');
    const offline = !navigator.onLine;
    pill.dataset.state = offline ? 'offline' : this.connState.state;
    pill.dataset.browserOffline = String(offline);
    pill.textContent = offline ? 'offline' : this.connState.text;
  }

  /** The banner about the socket (reconnecting…), unless the browser is offline, which says more. */
  private connectionBanner(text: string | undefined): void {
    this.connBanner = text;
    if (!navigator.onLine) {
      this.banner(
        this.client
          ? 'This browser is offline: nothing is sent or received until it is back online. ' +
              'It reconnects on its own.'
          : 'This browser is offline: the page needs the network to get a QR code.',
      );
      el('banner').dataset.kind = 'offline';
      return;
    }
    this.banner(text);
    el('banner').dataset.kind = text === undefined ? '' : 'connection';
  }

  private banner(text: string | undefined, action?: { label: string; run: () => void }): void {
    const b = el('banner');
    b.hidden = text === undefined;
    b.dataset.kind = '';
    el('banner-text').textContent = text ?? '';
    const btn = el<HTMLButtonElement>('banner-action');
    btn.hidden = !action;
    btn.textContent = action?.label ?? '';
    btn.onclick = action
      ? () => {
          b.hidden = true;
          action.run();
        }
      : null;
  }

  private linkStatus(text: string, state: 'waiting' | 'error' | 'expired' | 'done' = 'waiting'): void {
    const s = el('link-status');
    s.textContent = text;
    s.dataset.state = state;
    delete s.dataset.reason;
  }

  private bindStaticHandlers(): void {
    const onNetwork = () => {
      this.renderConn();
      // Only the connection banner is replaced; one asking for something (another tab…) stays.
      const kind = el('banner').dataset.kind;
      if (el('banner').hidden || kind === 'offline' || kind === 'connection')
        this.connectionBanner(
          navigator.onLine && this.client && !this.client.connected
            ? (this.connBanner ?? `Back online; reconnecting to the gateway at ${this.url}…`)
            : this.connBanner,
        );
    };
    window.addEventListener('offline', onNetwork);
    window.addEventListener('online', onNetwork);
    this.narrow.addEventListener('change', () => this.renderPanes());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.selected) void this.markRead(this.selected);
    });
    el<HTMLButtonElement>('back').onclick = () => this.select(undefined);
    el<HTMLButtonElement>('new-qr').onclick = () => void this.startLinking();
    el<HTMLButtonElement>('copy-qr').onclick = () => {
      const text = el<HTMLTextAreaElement>('qr-text').value;
      navigator.clipboard?.writeText(text).catch(() => el<HTMLTextAreaElement>('qr-text').select());
    };
    el<HTMLFormElement>('composer').onsubmit = (ev) => {
      ev.preventDefault();
      void this.sendCurrent();
    };
    el<HTMLFormElement>('new-chat').onsubmit = (ev) => {
      ev.preventDefault();
      void this.startConversation();
    };
    el<HTMLButtonElement>('unlink').onclick = () => void this.unlinkHere();
  }

  // -----------------------------------------------------------------------------------------
  // Linking

  private clearLinkTimers(): void {
    for (const t of this.linkTimers) clearTimeout(t);
    this.linkTimers = [];
  }

  async startLinking(): Promise<void> {
    const attempt = ++this.linkAttempt;
    this.clearLinkTimers();
    const previous = this.link;
    this.link = undefined;
    if (previous) await previous.cancel().catch(() => undefined);
    this.show('link');
    this.banner(undefined);
    el('new-qr').hidden = true;
    el('qr-expiry').textContent = '';
    el<HTMLTextAreaElement>('qr-text').value = '';
    el('qr-area').hidden = true;
    this.setConn('linking', 'connecting…');
    this.linkStatus('Connecting to the gateway…');
    let session: LinkSession;
    try {
      session = await TandemClient.link({
        url: this.url,
        store: this.keys,
        name: browserName(),
        platform: Platform.WEB,
        reconnectDelayMs: RECONNECT,
        connectionWaitMs: CONNECTION_WAIT_MS,
      });
    } catch (err) {
      if (attempt !== this.linkAttempt) return;
      const delay = Math.min(RECONNECT.max, 1000 * 2 ** Math.min(this.linkFailures++, 4));
      this.setConn('reconnecting', 'reconnecting…');
      this.linkStatus(
        `Cannot reach the gateway at ${this.url} (${describeError(err)}). Reconnecting in ${Math.round(delay / 1000)} s…`,
        'error',
      );
      el('link-status').dataset.reason = 'unreachable';
      this.connectionBanner(undefined);
      this.linkTimers.push(
        setTimeout(() => {
          if (attempt === this.linkAttempt) void this.startLinking();
        }, delay),
      );
      return;
    }
    this.linkFailures = 0;
    if (attempt !== this.linkAttempt) {
      await session.cancel();
      return;
    }
    this.link = session;
    this.setConn('linking', 'waiting for the phone');
    const canvas = el<HTMLCanvasElement>('qr');
    await QRCode.toCanvas(canvas, session.qr, { errorCorrectionLevel: 'M', margin: 2, width: 288 });
    el<HTMLTextAreaElement>('qr-text').value = session.qr;
    el('qr-area').hidden = false;
    this.linkStatus('Waiting for your phone to scan the code and approve…');
    const tick = () => {
      const left = Math.max(0, Math.round((session.expiresAtMs - Date.now()) / 1000));
      el('qr-expiry').textContent =
        `This code expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
      if (left > 0) this.linkTimers.push(setTimeout(tick, 1000));
    };
    tick();
    // If the server's expiry notice never comes (e.g. the socket hung), expire locally.
    this.linkTimers.push(
      setTimeout(
        () => {
          if (this.link === session) {
            void session.cancel();
            this.onLinkFailed(session, new TandemError('LINK_EXPIRED', 'expired locally'));
          }
        },
        Math.max(0, session.expiresAtMs - Date.now()) + 3000,
      ),
    );
    session.done.then(
      (client) => void this.onLinked(session, client),
      (err: unknown) => this.onLinkFailed(session, err),
    );
  }

  private onLinkFailed(session: LinkSession, err: unknown): void {
    if (this.link !== session) return;
    this.link = undefined;
    this.clearLinkTimers();
    el('qr-expiry').textContent = '';
    el('qr-area').hidden = true;
    el<HTMLTextAreaElement>('qr-text').value = '';
    this.setConn('offline', 'not linked');
    const code = err instanceof TandemError ? err.code : '';
    if (code === 'DISCONNECTED' || code === 'TIMEOUT') {
      // The gateway went away while we waited: a new code, once it answers again.
      this.linkStatus('Lost the connection to the gateway; getting a new code…', 'error');
      this.linkTimers.push(setTimeout(() => void this.startLinking(), 1000));
      return;
    }
    el('new-qr').hidden = false;
    if (code === 'LINK_EXPIRED') {
      this.linkStatus('This QR code expired before the phone approved it.', 'expired');
    } else if (code === 'DEVICE_LIMIT' || code === 'LINK_CANCELLED') {
      this.linkStatus(
        code === 'DEVICE_LIMIT'
          ? describeError(err)
          : 'The phone cancelled this link. If the account already has 4 linked companions (the most ' +
              'allowed), unlink one on the phone first, then show a new code.',
        'error',
      );
      el('link-status').dataset.reason = code === 'DEVICE_LIMIT' ? 'device-limit' : 'cancelled';
    } else {
      this.linkStatus(`Linking failed: ${describeError(err)}`, 'error');
    }
  }

  private async onLinked(session: LinkSession, client: TandemClient): Promise<void> {
    if (this.link !== session) {
      await client.close();
      return;
    }
    this.link = undefined;
    this.clearLinkTimers();
    this.linkStatus('Linked.', 'done');
    // `link` has already connected; its `connected` event fired before we could listen.
    this.attach(client);
    this.setConn('online', 'connected');
    await this.enterChat(client);
  }

  // -----------------------------------------------------------------------------------------
  // An existing device

  private async openExisting(): Promise<void> {
    const client = await TandemClient.open({
      url: this.url,
      store: this.keys,
      reconnectDelayMs: RECONNECT,
      // A send while the banner says "reconnecting" waits this long for the socket, then says so.
      connectionWaitMs: CONNECTION_WAIT_MS,
    });
    this.attach(client);
    await this.enterChat(client);
    await this.connectWithRetry(client, 0);
  }

  private async connectWithRetry(client: TandemClient, attempt: number): Promise<void> {
    if (this.client !== client) return;
    this.setConn('reconnecting', attempt === 0 ? 'connecting…' : 'reconnecting…');
    try {
      await client.connect();
    } catch (err) {
      if (this.client !== client) return; // unlinked meanwhile
      const code = err instanceof TandemError ? err.code : '';
      if (code === 'DEVICE_REVOKED') {
        // Unlinked while this page was closed or offline. Workaround: the SDK's connect() closes
        // the socket itself before the server's 4003 close arrives, so it neither wipes the store
        // nor emits `unlinked` in this case; do both here.
        await this.wipeAndRelink(client);
        return;
      }
      if (code === 'AUTH_FAILED' || code === 'DEVICE_UNKNOWN') {
        void client.close();
        this.setConn('offline', 'refused');
        this.banner('The server no longer knows this device. Unlink it here and link it again.', {
          label: 'Forget this device',
          run: () => void this.wipeAndRelink(client),
        });
        return;
      }
      const delay = Math.min(RECONNECT.max, RECONNECT.min * 2 ** Math.min(attempt + 2, 8));
      this.setConn('reconnecting', 'reconnecting…');
      this.connectionBanner(
        `The gateway at ${this.url} is unreachable. Reconnecting in ${Math.ceil(delay / 1000)} s…`,
      );
      setTimeout(() => void this.connectWithRetry(client, attempt + 1), delay);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Events of the linked device

  private attach(client: TandemClient): void {
    this.client = client;
    client.on('connected', () => {
      if (this.client !== client) return;
      this.setConn('online', 'connected');
      this.connectionBanner(undefined);
      void this.refreshDevices(client);
      // Opened before the socket was up (a reload): the safety number can be computed now.
      if (this.selected) void this.showSafetyNumber(client, this.selected);
    });
    client.on('disconnected', (e) => {
      if (this.client !== client) return;
      if (e.willReconnect) {
        this.setConn('reconnecting', 'reconnecting…');
        this.connectionBanner(`Lost the connection to the gateway at ${this.url}. Reconnecting…`);
      } else {
        this.setConn('offline', 'offline');
      }
    });
    client.on('message', (m) => this.onMessage(client, m));
    client.on('receipt', (r) => this.onReceipt(client, r));
    client.on('history', (h) => this.onHistory(client, h.data));
    client.on('devices-changed', (e) => {
      if (this.client !== client) return;
      if (e.accountId === client.accountId) void this.refreshDevices(client);
      if (e.accountId === this.selected) void this.showSafetyNumber(client, e.accountId);
    });
    client.on('security-code-changed', (e) => {
      this.safetyChanged.add(e.accountId);
      if (this.client === client && e.accountId === this.selected)
        void this.showSafetyNumber(client, e.accountId);
    });
    client.on('unlinked', () => this.onUnlinked(client));
    client.on('displaced', () => {
      if (this.client !== client) return;
      this.setConn('offline', 'open elsewhere');
      this.banner('This device was opened in another tab or window.', {
        label: 'Use it here',
        run: () => void this.connectWithRetry(client, 0),
      });
    });
    client.on('warning', (w) => {
      console.warn(`tandem: ${w.message}`);
      // Same workaround for the SDK's own reconnects: a reconnect refused with DEVICE_REVOKED is
      // only reported as a warning (and retried with backoff), never as `unlinked`.
      if (w.error instanceof TandemError && w.error.code === 'DEVICE_REVOKED' && this.client === client) {
        void this.wipeAndRelink(client);
      }
    });
  }

  private async onMessage(client: TandemClient, m: InboundMessage): Promise<void> {
    if (this.client !== client) return;
    const own = m.from.accountId === client.accountId;
    const msg: ChatMessage =
      own && m.sentTo !== undefined
        ? {
            id: `out:${m.clientMessageId}`,
            with: m.sentTo,
            direction: 'out',
            from: m.from,
            text: m.text,
            at: m.sentAtMs || m.serverTimestampMs,
            copies: {},
            source: 'sync',
          }
        : {
            id: `in:${m.from.accountId}:${m.clientMessageId}`,
            with: m.from.accountId,
            direction: 'in',
            from: m.from,
            text: m.text,
            at: m.sentAtMs || m.serverTimestampMs,
            copies: {},
            source: 'live',
          };
    // A message from someone else is unread unless its conversation is open and in view.
    if (msg.direction === 'in' && (msg.with !== this.selected || document.hidden)) msg.unread = true;
    // Saved before the SDK acknowledges the copy (it awaits this listener).
    await this.chats.putMany([msg]);
    this.upsert(msg);
  }

  private async onReceipt(client: TandemClient, r: ReceiptEvent): Promise<void> {
    if (this.client !== client) return;
    const id = `out:${r.clientMessageId}`;
    const device = deviceKey(r.device);
    const found = await this.chats.applyReceipt(id, device, r.kind);
    if (!found) {
      const list = this.earlyReceipts.get(id) ?? [];
      list.push([device, r.kind]);
      this.earlyReceipts.set(id, list);
      return;
    }
    const m = this.messages.find((x) => x.id === id);
    if (m) {
      m.copies[device] = r.kind;
      if (m.with === this.selected) this.renderMessages();
    }
  }

  private async onHistory(client: TandemClient, data: Uint8Array): Promise<void> {
    if (this.client !== client) return;
    const { items, skipped } = parseHistory(data);
    if (skipped) console.warn(`tandem: skipped ${skipped} history item(s) that did not fit the format`);
    const msgs = historyMessages(items, client.accountId);
    await this.chats.putMany(msgs);
    for (const item of items) {
      if (item.handle && !this.contacts.has(item.with)) {
        this.contacts.set(item.with, item.handle);
        await this.chats.putContact({ accountId: item.with, handle: item.handle });
      }
    }
    for (const m of msgs) this.upsert(m, false);
    if (!this.selected && msgs.length && !this.narrow.matches)
      this.selected = groupConversations(this.messages)[0]?.with;
    this.renderConversations();
    this.renderSelected(client);
  }

  private async onUnlinked(client: TandemClient): Promise<void> {
    if (this.client !== client) return;
    // The SDK has wiped the key store already; the conversations go with it.
    await this.wipeAndRelink(client);
  }

  private async wipeAndRelink(client: TandemClient): Promise<void> {
    if (this.client !== client) return;
    this.client = undefined;
    // Not awaited: `unlinked` is emitted from the SDK's inbound queue, which close() waits for.
    client.close().catch(() => undefined);
    await this.keys.clear();
    await this.chats.clear();
    this.messages = [];
    this.contacts.clear();
    this.ownDevices = [];
    this.selected = undefined;
    this.earlyReceipts.clear();
    await this.startLinking();
    this.banner('This device was unlinked; its keys and conversations were deleted from this browser.');
  }

  // -----------------------------------------------------------------------------------------
  // Chat screen

  private async enterChat(client: TandemClient): Promise<void> {
    this.messages = await this.chats.all();
    this.contacts = new Map((await this.chats.contacts()).map((c) => [c.accountId, c.handle]));
    el('me-handle').textContent = client.handle;
    el('me-device').textContent = String(client.deviceId);
    el('me-account').textContent = client.accountId;
    // Side by side, the newest conversation opens; on a phone-wide screen the list shows first.
    if (!this.narrow.matches) this.selected ??= groupConversations(this.messages)[0]?.with;
    if (this.selected) void this.markRead(this.selected);
    this.show('chat');
    this.renderConversations();
    this.renderSelected(client);
    this.renderDevices();
    if (client.connected) await this.refreshDevices(client);
  }

  private upsert(m: ChatMessage, render = true): void {
    const i = this.messages.findIndex((x) => x.id === m.id);
    if (i >= 0) this.messages[i] = m;
    else this.messages.push(m);
    if (!render) return;
    this.renderConversations();
    if (m.with === this.selected) this.renderMessages();
  }

  private name(accountId: string): string {
    if (this.client && accountId === this.client.accountId) return `${this.client.handle} (you)`;
    const handle = this.contacts.get(accountId);
    return handle ?? `account ${accountId.slice(0, 8)}…`;
  }

  private deviceLabel(key: string): string {
    const [accountId, deviceId] = key.split('/') as [string, string];
    if (this.client && accountId === this.client.accountId) {
      if (deviceId === '1') return 'your phone';
      const d = this.ownDevices.find((x) => String(x.deviceId) === deviceId);
      return d?.name ? `your ${d.name}` : `your device ${deviceId}`;
    }
    return `${this.name(accountId)} · device ${deviceId}`;
  }

  private renderConversations(): void {
    const list = el('conversations');
    // Every contact looked up ("Start") is listed, so a conversation just started stays in the
    // list when you switch away (and after a reload), after those with messages.
    const convs = groupConversations(this.messages, this.selected ? [this.selected] : [], [
      ...this.contacts.keys(),
    ]);
    let unread = 0;
    list.replaceChildren(
      ...convs.map((c) => {
        unread += c.unread;
        const classes = ['conv', c.with === this.selected ? 'selected' : '', c.unread ? 'unread' : ''];
        const li = h(
          'li',
          {
            class: classes.filter(Boolean).join(' '),
            'data-account': c.with,
            'data-unread': String(c.unread),
            role: 'button',
            tabindex: '0',
          },
          h(
            'span',
            { class: 'conv-line' },
            h('span', { class: 'conv-name' }, this.name(c.with)),
            ...(c.unread
              ? [h('span', { class: 'badge', 'aria-label': `${c.unread} unread` }, String(c.unread))]
              : []),
          ),
          h(
            'span',
            { class: 'preview' },
            c.last ? `${c.last.direction === 'out' ? 'You: ' : ''}${c.last.text}` : 'no messages yet',
          ),
        );
        li.onclick = () => this.select(c.with);
        li.onkeydown = (ev) => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            this.select(c.with);
          }
        };
        return li;
      }),
    );
    if (convs.length === 0) list.replaceChildren(h('li', { class: 'muted' }, 'No conversations yet.'));
    document.title = unread ? `(${unread}) ${TITLE}` : TITLE;
  }

  /** Opens a conversation (undefined: back to the list, on a phone-wide screen). */
  private select(accountId: string | undefined): void {
    if (this.selected !== accountId) el('send-error').hidden = true;
    this.selected = accountId;
    if (accountId) void this.markRead(accountId);
    this.renderConversations();
    if (this.client) this.renderSelected(this.client);
  }

  private async markRead(accountId: string): Promise<void> {
    if (document.hidden) return;
    const changed = markRead(this.messages, accountId);
    if (changed.length === 0) return;
    this.renderConversations();
    await this.chats.putMany(changed);
  }

  /** On a phone-wide screen, one pane at a time: the list, or the open conversation. */
  private renderPanes(): void {
    document.body.dataset.pane = this.selected ? 'conversation' : 'list';
  }

  private renderSelected(client: TandemClient): void {
    const has = this.selected !== undefined;
    el('conv-title').textContent = has ? this.name(this.selected!) : 'No conversation selected';
    el<HTMLInputElement>('composer-text').disabled = !has;
    el<HTMLButtonElement>('composer-send').disabled = !has;
    el('safety').hidden = !has;
    this.renderPanes();
    this.renderMessages();
    if (has) void this.showSafetyNumber(client, this.selected!);
  }

  private renderMessages(): void {
    const list = el('messages');
    if (!this.selected) {
      list.replaceChildren();
      return;
    }
    list.replaceChildren(
      ...conversationMessages(this.messages, this.selected).map((m) => {
        const meta = h('span', { class: 'meta' }, time(m.at));
        if (m.source === 'history') meta.append(' · from history');
        else if (
          m.direction === 'out' &&
          m.from.deviceId !== undefined &&
          m.from.deviceId !== this.client?.deviceId
        )
          meta.append(
            ` · sent from ${this.deviceLabel(deviceKey({ accountId: m.from.accountId, deviceId: m.from.deviceId }))}`,
          );
        for (const [dev, state] of Object.entries(m.copies).sort(([a], [b]) => (a < b ? -1 : 1))) {
          const symbol = state === 'delivered' ? '✓' : state === 'expired' || state === 'failed' ? '✕' : '…';
          const note = state === 'expired' ? ' (expired)' : state === 'failed' ? ' (could not decrypt)' : '';
          meta.append(
            h(
              'span',
              {
                class: 'mark',
                'data-state': state,
                'data-device': dev,
                title: `${state}: ${this.deviceLabel(dev)}`,
              },
              `${symbol} ${this.deviceLabel(dev)}${note}`,
            ),
          );
        }
        return h(
          'li',
          { class: `msg ${m.direction}`, 'data-id': m.id, 'data-source': m.source },
          h('span', { class: 'text' }, m.text),
          meta,
        );
      }),
    );
    list.scrollTop = list.scrollHeight;
  }

  private async showSafetyNumber(client: TandemClient, accountId: string): Promise<void> {
    const code = el('safety-number');
    el('safety-changed').hidden = !this.safetyChanged.has(accountId);
    if (!client.connected) {
      code.textContent = code.dataset.account === accountId ? code.textContent : '(available when connected)';
      return;
    }
    try {
      const n = await client.safetyNumber(accountId);
      if (this.selected !== accountId) return;
      code.textContent = formatSafetyNumber(n);
      code.dataset.account = accountId;
    } catch (err) {
      if (this.selected === accountId) code.textContent = `(unavailable: ${describeError(err)})`;
    }
  }

  private async refreshDevices(client: TandemClient): Promise<void> {
    try {
      const devices = await client.devices();
      if (this.client !== client) return;
      this.ownDevices = devices;
      this.renderDevices();
      if (this.selected) this.renderMessages();
    } catch (err) {
      console.warn(`tandem: cannot load the device list: ${describeError(err)}`);
    }
  }

  private renderDevices(): void {
    const me = this.client?.deviceId;
    el('devices').replaceChildren(
      ...this.ownDevices.map((d) =>
        h(
          'li',
          { 'data-device': String(d.deviceId) },
          h('strong', {}, d.name || `device ${d.deviceId}`),
          ` · ${d.deviceId === 1 ? 'phone (primary)' : `companion #${d.deviceId}`}${d.deviceId === me ? ' · this browser' : ''}`,
          h(
            'span',
            { class: 'preview' },
            `${Platform[d.platform] ?? 'unknown'} · linked ${time(d.linkedAtMs)}`,
          ),
        ),
      ),
    );
  }

  private async startConversation(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const input = el<HTMLInputElement>('new-chat-handle');
    const error = el('new-chat-error');
    const handle = input.value.trim().replace(/^@/, '');
    if (!handle) return;
    error.hidden = true;
    if (!navigator.onLine) {
      error.textContent = `Cannot start a conversation with “${handle}”: this browser is offline`;
      error.hidden = false;
      return;
    }
    try {
      const accountId = await client.lookup(handle);
      this.contacts.set(accountId, handle);
      await this.chats.putContact({ accountId, handle });
      input.value = '';
      this.select(accountId);
      el<HTMLInputElement>('composer-text').focus();
    } catch (err) {
      error.textContent = `Cannot start a conversation with “${handle}”: ${describeError(err)}`;
      error.hidden = false;
    }
  }

  private async sendCurrent(): Promise<void> {
    const client = this.client;
    const to = this.selected;
    const input = el<HTMLInputElement>('composer-text');
    const error = el('send-error');
    const text = input.value;
    if (!client || !to || text.trim() === '') return;
    error.hidden = true;
    if (!navigator.onLine) {
      // Said at once: a socket the browser has cut off may not notice for a long while.
      error.textContent = 'Not sent: this browser is offline (the text stays here, to send again)';
      error.hidden = false;
      return;
    }
    el<HTMLButtonElement>('composer-send').disabled = true;
    try {
      const sent = await client.send(to, { text });
      input.value = '';
      const id = `out:${sent.clientMessageId}`;
      const copies: Record<string, CopyState> = {};
      for (const c of sent.copies) copies[deviceKey(c)] = 'queued';
      for (const [dev, state] of this.earlyReceipts.get(id) ?? []) copies[dev] = state;
      this.earlyReceipts.delete(id);
      const msg: ChatMessage = {
        id,
        with: to,
        direction: 'out',
        from: { accountId: client.accountId, deviceId: client.deviceId },
        text,
        at: sent.serverTimestampMs,
        copies,
        source: 'live',
      };
      await this.chats.putMany([msg]);
      // A receipt may have landed between the send and the put above.
      for (const [dev, state] of this.earlyReceipts.get(id) ?? []) {
        msg.copies[dev] = state;
        await this.chats.applyReceipt(id, dev, state);
      }
      this.earlyReceipts.delete(id);
      this.upsert(msg);
    } catch (err) {
      error.textContent = `Not sent: ${describeError(err)}`;
      error.hidden = false;
    } finally {
      el<HTMLButtonElement>('composer-send').disabled = this.selected === undefined;
    }
  }

  private async unlinkHere(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (!window.confirm('Unlink this browser? Its keys and conversations will be deleted from it.')) return;
    try {
      await client.unlink(); // emits `unlinked`, which wipes and shows a new QR code
    } catch (err) {
      this.banner(`Cannot unlink while offline: ${describeError(err)}`);
    }
  }
}
