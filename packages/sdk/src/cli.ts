#!/usr/bin/env node
// The `tandem` command: a device in a terminal. Each store file holds one device's keys.
//   tandem register <handle>        make this device the primary (phone) of a new account
//   tandem link                     show a QR code to link this device as a companion
//   tandem scan <payload>           (primary) approve the companion that shows <payload>
//   tandem send <handle> <text...>  send a message to every device of <handle>
//   tandem listen                   print what other commands kept, then what arrives
//   tandem chat <handle>            listen, and send each line typed to <handle>
//   tandem devices [handle]         list an account's verified devices
//   tandem unlink [device-id]       unlink a companion (primary) or this device (companion)
//   tandem safety <handle>          show the safety number with <handle>
// Every command that connects keeps what arrives meanwhile (messages, receipts) in the store under
// cli/inbox/ before the SDK acknowledges it; `listen` and `chat` print that first, then remove it.
// Stores live in ./.tandem/ (git-ignored): `--store alice-phone.json` is .tandem/alice-phone.json.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { decodeQrPayload } from '@tandem/crypto/linking';
import { useNodeRatchetPrimitives } from '@tandem/crypto/node';
import { Platform } from '@tandem/proto';
import QRCode from 'qrcode';
import {
  type DeviceAddress,
  type InboundMessage,
  type ReceiptEvent,
  TandemClient,
  type TandemOptions,
  type TrustedDevice,
} from './client.js';
import { describeError } from './errors.js';
import { FileStore, type KeyValueStore } from './store.js';

/** How many recent messages the CLI keeps for the history it sends to a new companion. */
const HISTORY_LIMIT = 200;

const USAGE = `usage: tandem <command> [options]

commands:
  register <handle>                   register a new account; this device becomes its primary
  link                                show a QR code and wait for the primary to scan it
  scan <qr-payload>                   approve a companion (primary only)
  send <handle> <text...>             send a message to every device of <handle>
  listen                              print what other commands kept, then messages and receipts
                                      until Ctrl-C
  chat <handle>                       listen, and send every line you type to <handle>
  devices [handle]                    list verified devices (default: this account)
  unlink [device-id]                  unlink a companion, or this companion itself
  safety <handle>                     show the safety number with <handle>

options:
  --server <url>   gateway WebSocket URL (env TANDEM_URL, default ws://127.0.0.1:8080/v1/ws)
  --store <name>   this device's key file (env TANDEM_STORE, default device.json). A name
                   without a slash is a file in .tandem/ under the current directory
                   (created, mode 0700; git-ignored in this repository), so
                   --store alice-phone.json means .tandem/alice-phone.json; a path with a
                   slash (./x.json, /tmp/x.json) is used as it is. The file holds private keys.
  --name <name>    device name shown in the device list (default: phone for register,
                   companion for link)

Messages and receipts that arrive while another command runs are kept in the store and
printed by the next listen or chat. The primary also keeps its last ${HISTORY_LIMIT} messages; scan sends
them to the new companion as its history.
`;

/** Where stores without a slash in their name live, relative to the current directory. */
const STORE_DIR = '.tandem';

/** `--store NAME` without a slash: .tandem/NAME; a path with a slash: that path. */
function storePath(arg: string | undefined): string {
  const name = arg || 'device.json';
  return /[/\\]/.test(name) ? name : join(STORE_DIR, name);
}

/** A user-facing error: printed as `tandem: <message>`, without an error code. */
class CliError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      store: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const storeArg = values.store ?? process.env.TANDEM_STORE;
  const path = storePath(storeArg);
  if (path.startsWith(`${STORE_DIR}/`) || path.startsWith(`${STORE_DIR}\\`)) {
    await mkdir(STORE_DIR, { recursive: true, mode: 0o700 });
    // Stores used to be written to the current directory; point at one left there.
    const old = storeArg || './tandem-device.json';
    if (!existsSync(path) && existsSync(old) && command !== 'register' && command !== 'link') {
      process.stderr.write(
        `tandem: note: stores now live in ${STORE_DIR}/; to use ./${old.replace(/^\.\//, '')}, run: mkdir -p ${STORE_DIR} && mv ${old} ${path}\n`,
      );
    }
  }
  const options: TandemOptions = {
    url: values.server ?? process.env.TANDEM_URL ?? 'ws://127.0.0.1:8080/v1/ws',
    store: await FileStore.open(path),
    // The platform and name every device list shows for this device.
    platform: Platform.CLI,
    name: values.name || (command === 'register' ? 'phone' : 'companion'),
  };
  const print = (line: string) => process.stdout.write(`${line}\n`);

  switch (command) {
    case 'register': {
      const handle = need(rest[0], 'register <handle>');
      const names = await Names.load(options.store);
      const client = await TandemClient.register({
        ...options,
        handle,
        // The registry sends a fresh code for every attempt, so it can only be asked for here.
        getCode: () => ask('verification code (the server logs it): '),
      });
      // register cleared the store: the names start again with this device's own.
      await names.reset(client, options.name!);
      print(`registered ${handle}: this device (${options.name}) is its primary, the phone`);
      await client.close();
      return 0;
    }
    case 'link': {
      const names = await Names.load(options.store);
      const session = await TandemClient.link(options);
      print(await QRCode.toString(session.qr, { type: 'terminal', small: true }));
      print('Scan this with the primary device, or run on it:');
      print(`  npm run tandem -- scan '${session.qr}' --store <the phone's store>`);
      print(`waiting for approval (expires ${new Date(session.expiresAtMs).toLocaleTimeString()}) ...`);
      const client = await session.done;
      // Connected already: attached at once, before the first copy is handed over.
      const inbox = new Inbox(options.store, names, client);
      inbox.attach(client);
      client.on('warning', warn);
      await names.reset(client, options.name!);
      print(`linked: this device (${options.name}) is a companion of ${client.handle}`);
      const { exited } = await listen(client, inbox, names, print);
      void names.refreshOwn(client);
      return exited;
    }
    case 'scan': {
      const payload = need(rest[0], 'scan <qr-payload>').trim();
      try {
        decodeQrPayload(payload);
      } catch {
        throw new CliError(
          "this is not a Tandem link code: paste the whole text the new device shows (it starts with 'tandem1:'), in quotes",
        );
      }
      return withDevice(options, print, async (client, { names, inbox }) => {
        const { deviceId } = await client.approveLink(payload);
        print(`approved device ${deviceId}; waiting for it to finish linking ...`);
        const device = await linkedDevice(client, deviceId);
        await names.refreshOwn(client);
        const label = names.device({ accountId: client.accountId, deviceId });
        print(`linked: ${label} is a companion of ${client.handle} (${Platform[device.platform]})`);
        // What the backlog brings now belongs in the history too.
        await inbox.drained(BACKLOG_WAIT_MS);
        const items = await History.items(options.store, names);
        if (items.length === 0) {
          print('no recent messages to send as its history');
          return;
        }
        await client.sendHistory(deviceId, new TextEncoder().encode(JSON.stringify(items)));
        print(`sent ${plural(items.length, 'recent message')} to ${label} as its history`);
      });
    }
    case 'send':
      return withDevice(options, print, async (client, { names }) => {
        const who = need(rest[0], 'send <handle> <text...>');
        const to = await resolve(client, names, who);
        const text = rest.slice(1).join(' ');
        if (!text) throw new CliError('nothing to send: tandem send <handle> <text...>');
        const result = await client.send(to, { text, data: names.claim(client, to) });
        await History.add(options.store, { with: to, from: client.accountId, text, at: Date.now() });
        print(
          `sent to ${who}: ${plural(result.copies.length, 'device')} (message ${result.clientMessageId})`,
        );
      });
    case 'listen': {
      const { client, inbox, names } = await openDevice(options);
      // What earlier commands kept is printed before anything arrives on this connection.
      const { exited } = await listen(client, inbox, names, print);
      await client.connect();
      void names.refreshOwn(client);
      return exited;
    }
    case 'chat': {
      const { client, inbox, names } = await openDevice(options);
      await client.connect();
      const who = need(rest[0], 'chat <handle>');
      const to = await resolve(client, names, who);
      void names.refreshOwn(client);
      // Kept until the handle is resolved (what arrives meanwhile too), then printed with its name.
      const { exited } = await listen(client, inbox, names, print);
      print(`chatting with ${who}: type a message and press Enter (Ctrl-C to quit)`);
      const rl = createInterface({ input: process.stdin, terminal: false });
      rl.on('line', (line) => {
        const text = line.trim();
        if (!text) return;
        client
          .send(to, { text, data: names.claim(client, to) })
          .then(async (r) => {
            await History.add(options.store, { with: to, from: client.accountId, text, at: Date.now() });
            print(`  sent to ${who}: ${plural(r.copies.length, 'device')}`);
          })
          .catch((error: unknown) => process.stderr.write(`tandem: ${describeError(error)}\n`));
      });
      const code = await exited;
      rl.close();
      return code;
    }
    case 'devices':
      return withDevice(options, print, async (client, { names }) => {
        const accountId = rest[0] ? await resolve(client, names, rest[0]) : client.accountId;
        const own = accountId === client.accountId;
        const list = await client.devices(accountId);
        if (own) await names.learnOwn(client, list);
        print(`devices of ${names.label(accountId)}${own ? ' (this account)' : ''}:`);
        for (const d of list) {
          const me = own && d.deviceId === client.deviceId ? '  (this device)' : '';
          const role = d.deviceId === 1 ? 'primary' : 'companion';
          // The server tells an account the names and platforms of its own devices only.
          const name = d.name || names.deviceName({ accountId, deviceId: d.deviceId });
          const platform = d.platform ? Platform[d.platform] : '(not shown to other accounts)';
          print(`${String(d.deviceId).padStart(2)}  ${role.padEnd(9)}  ${name}  ${platform}${me}`);
        }
      });
    case 'unlink':
      return withDevice(options, print, async (client, { names }) => {
        const id = rest[0] === undefined ? client.deviceId : Number(rest[0]);
        if (!Number.isInteger(id) || id < 2)
          throw new CliError('the device id must be 2 or more (see `tandem devices`)');
        const label = names.device({ accountId: client.accountId, deviceId: id });
        await client.unlink(id);
        print(id === client.deviceId ? 'this device is unlinked; its keys are wiped' : `${label} unlinked`);
      });
    case 'safety':
      return withDevice(options, print, async (client, { names }) => {
        const who = need(rest[0], 'safety <handle>');
        const digits = await client.safetyNumber(await resolve(client, names, who));
        print(`safety number with ${who}: ${digits.match(/.{5}/g)!.join(' ')}`);
      });
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

const plural = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;

/** The companion `deviceId` once it has finished linking (it is then in the verified list). */
async function linkedDevice(client: TandemClient, deviceId: number): Promise<TrustedDevice> {
  const deadline = Date.now() + LINK_WAIT_MS;
  for (;;) {
    const found = (await client.devices()).find((d) => d.deviceId === deviceId);
    if (found) return found;
    if (Date.now() > deadline)
      throw new CliError(`device ${deviceId} was approved but did not finish linking within a minute`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** How long `scan` waits for the approved companion to complete the link. */
const LINK_WAIT_MS = 60_000;

const warn = (w: { message: string }) => {
  process.stderr.write(`warning: ${w.message}\n`);
};

/** The device in the store, its inbox keeper attached before anything can arrive. */
async function openDevice(options: TandemOptions): Promise<Device> {
  const client = await TandemClient.open(options);
  client.on('warning', warn);
  const names = await Names.load(options.store);
  const inbox = new Inbox(options.store, names, client);
  inbox.attach(client);
  return { client, inbox, names };
}

interface Device {
  client: TandemClient;
  inbox: Inbox;
  names: Names;
}

/** How long a one-shot command waits, after its work, for the rest of the backlog to be kept. */
const BACKLOG_WAIT_MS = 10_000;

/**
 * A command that connects, does its work and ends. What the SDK hands over meanwhile (the
 * backlog, and anything live) is kept in the inbox before it is acknowledged; the command waits
 * for the backlog to be drained, so one run reports all of it, and says how much it kept.
 */
async function withDevice(
  options: TandemOptions,
  print: (line: string) => void,
  work: (client: TandemClient, device: Device) => Promise<void>,
): Promise<number> {
  const device = await openDevice(options);
  const { client, inbox } = device;
  try {
    await client.connect();
    await work(client, device);
    await inbox.drained(BACKLOG_WAIT_MS);
  } finally {
    await client.close();
    const line = inbox.summary();
    if (line) print(line);
  }
  return 0;
}

/** The account id of a handle (an account id is taken as it is); the handle is remembered. */
async function resolve(client: TandemClient, names: Names, who: string): Promise<string> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-/.test(who)) return who;
  const accountId = await client.lookup(who.replace(/^@/, ''));
  await names.learn({ [accountId]: who.replace(/^@/, '') });
  return accountId;
}

/** Store key of the CLI's address book: handles by account id, device names by `<account>/<device>`. */
const NAMES = 'cli/names';

/**
 * What the CLI prints instead of account ids: handles it looked up or that a message's sender
 * claimed and a lookup confirmed, and device names (this account's from its device list,
 * another account's as its devices call themselves). Each CLI message carries its sender's
 * handle and device name (and the recipient's handle) in `data`, as `Claim` JSON.
 */
class Names {
  private constructor(
    private readonly store: KeyValueStore,
    private book: { handles: Record<string, string>; devices: Record<string, string> },
  ) {}

  static async load(store: KeyValueStore): Promise<Names> {
    const raw = await store.get(NAMES);
    const book = raw ? (JSON.parse(new TextDecoder().decode(raw)) as Names['book']) : undefined;
    return new Names(store, { handles: { ...book?.handles }, devices: { ...book?.devices } });
  }

  /** A new device in a cleared store: only its own handle and name. */
  async reset(client: TandemClient, name: string): Promise<void> {
    this.book = { handles: {}, devices: {} };
    await this.learn({ [client.accountId]: client.handle }, { [key(client)]: name });
  }

  handle(accountId: string): string | undefined {
    return this.book.handles[accountId];
  }

  /** The handle, or (never seen) the start of the account id. */
  label(accountId: string): string {
    return this.handle(accountId) ?? `account ${accountId.slice(0, 8)}`;
  }

  deviceName(a: DeviceAddress): string {
    return this.book.devices[key(a)] ?? (a.deviceId === 1 ? 'phone' : `device ${a.deviceId}`);
  }

  /** `alice (phone)`. */
  device(a: DeviceAddress): string {
    return `${this.label(a.accountId)} (${this.deviceName(a)})`;
  }

  async learn(handles: Record<string, string>, devices: Record<string, string> = {}): Promise<void> {
    let changed = false;
    for (const [table, entries] of [
      [this.book.handles, handles],
      [this.book.devices, devices],
    ] as const) {
      for (const [k, v] of Object.entries(entries)) {
        if (v && table[k] !== v) {
          table[k] = v;
          changed = true;
        }
      }
    }
    if (changed) await this.store.write([[NAMES, new TextEncoder().encode(JSON.stringify(this.book))]]);
  }

  /** This account's device names, from its verified device list. */
  async learnOwn(client: TandemClient, list: readonly TrustedDevice[]): Promise<void> {
    const devices: Record<string, string> = {};
    for (const d of list) devices[key({ accountId: client.accountId, deviceId: d.deviceId })] = d.name;
    await this.learn({ [client.accountId]: client.handle }, devices);
  }

  /** As learnOwn, fetching the list; a failure only leaves the names as they were. */
  async refreshOwn(client: TandemClient): Promise<void> {
    try {
      await this.learnOwn(client, await client.devices());
    } catch {
      // Names are for display; the next command tries again.
    }
  }

  /** The `data` of a message this device sends to `to`. */
  claim(client: TandemClient, to: string): Uint8Array {
    const claim: Claim = {
      tandemCli: 1,
      handle: client.handle,
      device: this.book.devices[key(client)],
      to: this.handle(to),
    };
    return new TextEncoder().encode(JSON.stringify(claim));
  }

  /** Learns from a received message's claim; a claimed handle only if a lookup confirms it. */
  async fromMessage(client: TandemClient, m: InboundMessage): Promise<void> {
    const claim = parseClaim(m.data);
    if (!claim) return;
    const handles: Record<string, string> = {};
    const confirm = async (accountId: string | undefined, handle: string | undefined) => {
      if (!accountId || !handle || this.handle(accountId) === handle) return;
      try {
        if ((await client.lookup(handle)) === accountId) handles[accountId] = handle;
      } catch {
        // Unconfirmed: the account id is shown instead.
      }
    };
    await confirm(m.from.accountId, claim.handle);
    await confirm(m.sentTo, claim.to);
    // This account's own device names come from its signed list; others' from what they say.
    const devices: Record<string, string> =
      claim.device && (m.from.accountId !== client.accountId || !this.book.devices[key(m.from)])
        ? { [key(m.from)]: claim.device }
        : {};
    await this.learn(handles, devices);
  }
}

const key = (a: DeviceAddress) => `${a.accountId}/${a.deviceId}`;

/** What a CLI message carries in `data` besides its text. */
interface Claim {
  tandemCli: 1;
  handle?: string | undefined;
  device?: string | undefined;
  to?: string | undefined;
}

function parseClaim(data: Uint8Array): Claim | undefined {
  if (data.length === 0 || data.length > 1024) return undefined;
  try {
    const o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as Record<string, unknown>;
    if (o === null || typeof o !== 'object' || o.tandemCli !== 1) return undefined;
    // Printed in a terminal: no control characters, nothing long.
    const text = (v: unknown) =>
      typeof v === 'string' && v.length <= 64 && !/[\p{Cc}\p{Cf}]/u.test(v) ? v : undefined;
    return { tandemCli: 1, handle: text(o.handle), device: text(o.device), to: text(o.to) };
  } catch {
    return undefined;
  }
}

/** One message of the history `scan` sends (apps/web/src/history.ts: with, from, text, at, handle). */
interface HistoryItem {
  with: string;
  from: string;
  text: string;
  at: number;
  handle?: string;
}

/** The items of a history bundle in the web companion's format, or undefined if it is not one. */
function parseHistory(data: Uint8Array): HistoryItem[] | undefined {
  try {
    const json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as unknown;
    if (!Array.isArray(json)) return undefined;
    return json.filter(
      (o): o is HistoryItem =>
        o !== null &&
        typeof o === 'object' &&
        typeof o.with === 'string' &&
        typeof o.from === 'string' &&
        typeof o.text === 'string' &&
        typeof o.at === 'number' &&
        (o.handle === undefined || (typeof o.handle === 'string' && !/[\p{Cc}\p{Cf}]/u.test(o.handle))),
    );
  } catch {
    return undefined;
  }
}

/** Store key of the last HISTORY_LIMIT messages this device sent or received, oldest first. */
const HISTORY = 'cli/history';

const History = {
  async load(store: KeyValueStore): Promise<HistoryItem[]> {
    const raw = await store.get(HISTORY);
    return raw ? (JSON.parse(new TextDecoder().decode(raw)) as HistoryItem[]) : [];
  },
  async add(store: KeyValueStore, item: HistoryItem): Promise<void> {
    const items = [...(await History.load(store)), item].slice(-HISTORY_LIMIT);
    await store.write([[HISTORY, new TextEncoder().encode(JSON.stringify(items))]]);
  },
  /** The history as the web companion reads it, each item with the other party's handle if known. */
  async items(store: KeyValueStore, names: Names): Promise<HistoryItem[]> {
    return (await History.load(store))
      .sort((a, b) => a.at - b.at)
      .map((item) => {
        const handle = names.handle(item.with);
        return handle ? { ...item, handle } : item;
      });
  },
};

/** One thing the inbox keeps (JSON in the store; a message's `data` as base64). */
type Kept =
  | { kind: 'message'; message: Omit<InboundMessage, 'data'> & { data: string } }
  | { kind: 'receipt'; receipt: ReceiptEvent }
  | { kind: 'undecryptable'; from: DeviceAddress; clientMessageId: string }
  | { kind: 'history'; bytes: number; messages?: number | undefined };
/** What `listen` prints through the inbox: a kept item, or the end of the backlog (never kept). */
type Shown = Kept | { kind: 'up-to-date' };

/** Store key prefix of the inbox; the rest of the key sorts in arrival order. */
const INBOX = 'cli/inbox/';

/**
 * The CLI's inbox, in the device's own store. Until `release`, every message, receipt and notice
 * the SDK hands over is written to the store before its listener returns, so before the SDK
 * acknowledges the copy: a command that only looks at devices or a safety number never loses
 * what arrives meanwhile. `release` prints what is kept, in order, removes it, and from then on
 * prints what arrives. All of it runs in one chain, so nothing slips between kept and live.
 */
class Inbox {
  private chain: Promise<void> = Promise.resolve();
  private show: ((item: Shown) => void) | undefined;
  private upToDate = false;
  private gone = false;
  private last: { ms: number; seq: number } | undefined;
  private readonly counts = { message: 0, receipt: 0, other: 0 };
  private readonly settled: Promise<void>;
  private settle: () => void = () => undefined;

  constructor(
    private readonly store: KeyValueStore,
    private readonly names: Names,
    private readonly client: TandemClient,
  ) {
    this.settled = new Promise((resolveSettled) => {
      this.settle = resolveSettled;
    });
  }

  attach(client: TandemClient): void {
    client.on('message', (m) =>
      this.take({ kind: 'message', message: { ...m, data: Buffer.from(m.data).toString('base64') } }),
    );
    client.on('receipt', (receipt) => this.take({ kind: 'receipt', receipt }));
    client.on('undecryptable', (u) => this.take({ kind: 'undecryptable', ...u }));
    // A history bundle (from `tandem scan`, or any primary): its handles are learned, its
    // messages counted; that notice is what is kept.
    client.on('history', async (h) => {
      const items = parseHistory(h.data);
      const handles: Record<string, string> = {};
      for (const item of items ?? []) if (item.handle) handles[item.with] = item.handle;
      await this.names.learn(handles);
      await this.take({ kind: 'history', bytes: h.data.length, messages: items?.length });
    });
    client.on('queue-empty', () =>
      this.serial(async () => {
        this.upToDate = true;
        this.show?.({ kind: 'up-to-date' });
        this.settle();
      }),
    );
    // The store is wiped: nothing more to keep, nothing more to wait for.
    client.on('unlinked', () => {
      this.gone = true;
      this.settle();
    });
    client.on('displaced', () => this.settle());
    client.on('disconnected', (d) => {
      if (!d.willReconnect) this.settle();
    });
  }

  /** Resolves once the backlog has been handed over (or the connection ended), at most after `ms`. */
  async drained(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.settled, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Prints (through `format`) everything kept, in order, removes it, then prints what arrives. */
  release(format: (item: Shown) => string, print: (line: string) => void): Promise<void> {
    return this.serial(async () => {
      const keys = (await this.store.list(INBOX)).sort();
      for (const key of keys) {
        const raw = await this.store.get(key);
        if (raw) print(format(JSON.parse(new TextDecoder().decode(raw)) as Kept));
      }
      if (keys.length) await this.store.write(keys.map((k) => [k, undefined] as const));
      this.show = (item) => print(format(item));
      if (this.upToDate) this.show({ kind: 'up-to-date' });
    });
  }

  /** "2 new messages and 1 receipt kept; …", or undefined when nothing was kept. */
  summary(): string | undefined {
    const { message, receipt, other } = this.counts;
    if (this.gone || message + receipt + other === 0) return undefined;
    const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
    const parts = [
      ...(message ? [n(message, 'new message')] : []),
      ...(receipt ? [n(receipt, 'receipt')] : []),
      ...(other ? [n(other, 'notice')] : []),
    ];
    const list = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0];
    const it = message + receipt + other === 1 ? 'it' : 'them';
    return `${list} kept; run \`tandem listen\` to read ${it}`;
  }

  private take(item: Kept): Promise<void> {
    return this.serial(async () => {
      if (this.gone) return;
      if (item.kind === 'message') {
        const m = item.message;
        await this.names.fromMessage(this.client, { ...m, data: Buffer.from(m.data, 'base64') });
        await History.add(this.store, {
          with: m.sentTo ?? m.from.accountId,
          from: m.from.accountId,
          text: m.text,
          at: m.sentAtMs,
        });
      }
      if (this.show) {
        this.show(item);
        return;
      }
      if (this.gone) return;
      await this.store.write([[await this.nextKey(), new TextEncoder().encode(JSON.stringify(item))]]);
      if (item.kind === 'message' || item.kind === 'receipt') this.counts[item.kind]++;
      else this.counts.other++;
    });
  }

  /** Runs `task` after every earlier one; its failure reaches the SDK (the copy is not acknowledged). */
  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** `cli/inbox/<ms, 15 digits>-<seq, 6 digits>`: after every key already kept, even if the clock went back. */
  private async nextKey(): Promise<string> {
    if (!this.last) {
      const lastKey = (await this.store.list(INBOX)).sort().at(-1);
      const m = lastKey?.slice(INBOX.length).match(/^(\d+)-(\d+)$/);
      this.last = m ? { ms: Number(m[1]), seq: Number(m[2]) } : { ms: 0, seq: 0 };
    }
    const now = Date.now();
    this.last = now > this.last.ms ? { ms: now, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 };
    return `${INBOX}${String(this.last.ms).padStart(15, '0')}-${String(this.last.seq).padStart(6, '0')}`;
  }
}

/** Lines for what arrives (live or kept), with handles and device names. */
function formatter(names: Names): (item: Shown) => string {
  return (item) => {
    switch (item.kind) {
      case 'message': {
        const m = item.message;
        const time = new Date(m.sentAtMs).toLocaleTimeString();
        return m.sentTo
          ? `[${time}] you (${names.deviceName(m.from)}) → ${names.label(m.sentTo)}: ${m.text}`
          : `[${time}] ${names.device(m.from)}: ${m.text}`;
      }
      case 'receipt': {
        const r = item.receipt;
        return `  ${r.kind} to ${names.device(r.device)}, message ${r.clientMessageId}`;
      }
      case 'undecryptable':
        return `a message from ${names.device(item.from)} could not be decrypted, even after asking for it again (message ${item.clientMessageId})`;
      case 'history':
        return item.messages === undefined
          ? `history from the primary: ${item.bytes} bytes`
          : `history from the primary: ${plural(item.messages, 'message')}`;
      case 'up-to-date':
        return '-- up to date --';
    }
  };
}

/**
 * Prints what the inbox kept, then what arrives, until the device is unlinked or Ctrl-C.
 * Resolves once the kept items are printed; `exited` at the end.
 */
async function listen(
  client: TandemClient,
  inbox: Inbox,
  names: Names,
  print: (line: string) => void,
): Promise<{ exited: Promise<number> }> {
  let quitting = false;
  client.on('disconnected', (d) => {
    if (!quitting) print(`disconnected (${d.code})${d.willReconnect ? ', reconnecting …' : ''}`);
  });
  client.on('security-code-changed', (e) =>
    print(`security code with ${names.label(e.accountId)} changed: compare safety numbers again`),
  );
  const exited = new Promise<number>((resolveExit) => {
    client.on('unlinked', () => {
      print('this device was unlinked; its keys are wiped');
      resolveExit(0);
    });
    client.on('displaced', () => {
      print('another connection of this device took over');
      resolveExit(1);
    });
    process.once('SIGINT', () => {
      quitting = true;
      void client.close().then(() => resolveExit(0));
    });
  });
  await inbox.release(formatter(names), print);
  return { exited };
}

function need(value: string | undefined, usage: string): string {
  if (!value) throw new CliError(`usage: tandem ${usage}`);
  return value;
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

// In Node the ratchet's HMAC and ChaCha20-Poly1305 run on OpenSSL (same bytes, 1.4-2x the fan-out rate).
useNodeRatchetPrimitives();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tandem: ${error instanceof CliError ? error.message : describeError(error)}\n`);
    process.exit(1);
  },
);
