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
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { useNodeRatchetPrimitives } from '@tandem/crypto/node';
import { Platform } from '@tandem/proto';
import QRCode from 'qrcode';
import {
  type DeviceAddress,
  type InboundMessage,
  type ReceiptEvent,
  TandemClient,
  type TandemOptions,
} from './client.js';
import { describeError, TandemError } from './errors.js';
import { FileStore, type KeyValueStore } from './store.js';

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
  --store <file>   this device's key file (env TANDEM_STORE, default ./tandem-device.json)
  --name <name>    device name shown in the device list

Messages and receipts that arrive while another command runs are kept in the store and
printed by the next listen or chat.
`;

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
  const options: TandemOptions = {
    url: values.server ?? process.env.TANDEM_URL ?? 'ws://127.0.0.1:8080/v1/ws',
    store: await FileStore.open(values.store ?? process.env.TANDEM_STORE ?? './tandem-device.json'),
    platform: Platform.CLI,
    ...(values.name ? { name: values.name } : {}),
  };
  const print = (line: string) => process.stdout.write(`${line}\n`);

  switch (command) {
    case 'register': {
      const handle = need(rest[0], 'register <handle>');
      const client = await TandemClient.register({
        ...options,
        handle,
        // The registry sends a fresh code for every attempt, so it can only be asked for here.
        getCode: () => ask('verification code (the server logs it): '),
      });
      print(`registered ${handle}: account ${client.accountId}, this device is its primary (device 1)`);
      await client.close();
      return 0;
    }
    case 'link': {
      const session = await TandemClient.link(options);
      print(await QRCode.toString(session.qr, { type: 'terminal', small: true }));
      print('Scan this with the primary device, or run on it:');
      print(`  npm run tandem -- scan '${session.qr}' --store <the phone's store>`);
      print(`waiting for approval (expires ${new Date(session.expiresAtMs).toLocaleTimeString()}) ...`);
      const client = await session.done;
      // Connected already: attached at once, before the first copy is handed over.
      const inbox = new Inbox(options.store);
      inbox.attach(client);
      client.on('warning', warn);
      print(`linked: device ${client.deviceId} of ${client.handle} (account ${client.accountId})`);
      return (await listen(client, inbox, print)).exited;
    }
    case 'scan':
      return withDevice(options, print, async (client) => {
        const { deviceId } = await client.approveLink(need(rest[0], 'scan <qr-payload>'));
        print(`approved: the companion is device ${deviceId}`);
      });
    case 'send':
      return withDevice(options, print, async (client) => {
        const to = await resolve(client, need(rest[0], 'send <handle> <text...>'));
        const text = rest.slice(1).join(' ');
        if (!text) throw new TandemError('INVALID_ARGUMENT', 'nothing to send');
        const result = await client.send(to, { text });
        print(`sent to ${result.copies.length} device(s) (message ${result.clientMessageId})`);
      });
    case 'listen': {
      const { client, inbox } = await openDevice(options);
      // What earlier commands kept is printed before anything arrives on this connection.
      const { exited } = await listen(client, inbox, print);
      await client.connect();
      return exited;
    }
    case 'chat': {
      const { client, inbox } = await openDevice(options);
      await client.connect();
      const who = need(rest[0], 'chat <handle>');
      const to = await resolve(client, who);
      // Kept until the handle is resolved (what arrives meanwhile too), then printed with its name.
      const { exited } = await listen(client, inbox, print, new Map([[to, who]]));
      print(`chatting with ${who}: type a message and press Enter (Ctrl-C to quit)`);
      const rl = createInterface({ input: process.stdin, terminal: false });
      rl.on('line', (line) => {
        const text = line.trim();
        if (!text) return;
        client.send(to, { text }).then(
          (r) => print(`  sent to ${r.copies.length} device(s)`),
          (error: unknown) => process.stderr.write(`tandem: ${describeError(error)}\n`),
        );
      });
      const code = await exited;
      rl.close();
      return code;
    }
    case 'devices':
      return withDevice(options, print, async (client) => {
        const accountId = rest[0] ? await resolve(client, rest[0]) : client.accountId;
        for (const d of await client.devices(accountId)) {
          const me =
            accountId === client.accountId && d.deviceId === client.deviceId ? '  (this device)' : '';
          const role = d.deviceId === 1 ? 'primary' : 'companion';
          print(
            `${String(d.deviceId).padStart(2)}  ${role.padEnd(9)}  ${d.name || '-'}  ${Platform[d.platform]}${me}`,
          );
        }
      });
    case 'unlink':
      return withDevice(options, print, async (client) => {
        const id = rest[0] === undefined ? client.deviceId : Number(rest[0]);
        if (!Number.isInteger(id) || id < 2)
          throw new TandemError('INVALID_ARGUMENT', 'device id must be 2 or more');
        await client.unlink(id);
        print(
          id === client.deviceId ? 'this device is unlinked; its keys are wiped' : `device ${id} unlinked`,
        );
      });
    case 'safety':
      return withDevice(options, print, async (client) => {
        const digits = await client.safetyNumber(await resolve(client, need(rest[0], 'safety <handle>')));
        print(digits.match(/.{5}/g)!.join(' '));
      });
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

const warn = (w: { message: string }) => {
  process.stderr.write(`warning: ${w.message}\n`);
};

/** The device in the store, its inbox keeper attached before anything can arrive. */
async function openDevice(options: TandemOptions): Promise<{ client: TandemClient; inbox: Inbox }> {
  const client = await TandemClient.open(options);
  client.on('warning', warn);
  const inbox = new Inbox(options.store);
  inbox.attach(client);
  return { client, inbox };
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
  work: (client: TandemClient) => Promise<void>,
): Promise<number> {
  const { client, inbox } = await openDevice(options);
  try {
    await client.connect();
    await work(client);
    await inbox.drained(BACKLOG_WAIT_MS);
  } finally {
    await client.close();
    const line = inbox.summary();
    if (line) print(line);
  }
  return 0;
}

async function resolve(client: TandemClient, who: string): Promise<string> {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(who) ? who : client.lookup(who);
}

/** One thing the inbox keeps (JSON in the store; a message's `data` as base64). */
type Kept =
  | { kind: 'message'; message: Omit<InboundMessage, 'data'> & { data: string } }
  | { kind: 'receipt'; receipt: ReceiptEvent }
  | { kind: 'undecryptable'; from: DeviceAddress; clientMessageId: string }
  | { kind: 'history'; bytes: number };
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

  constructor(private readonly store: KeyValueStore) {
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
    // The CLI does nothing with a history bundle but say it came; that notice is what is kept.
    client.on('history', (h) => this.take({ kind: 'history', bytes: h.data.length }));
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

/** Lines for what arrives (live or kept). `names`: account id -> handle. */
function formatter(names: ReadonlyMap<string, string>): (item: Shown) => string {
  const label = (accountId: string) => names.get(accountId) ?? accountId.slice(0, 8);
  return (item) => {
    switch (item.kind) {
      case 'message': {
        const m = item.message;
        const time = new Date(m.sentAtMs).toLocaleTimeString();
        return m.sentTo
          ? `[${time}] you (device ${m.from.deviceId}) → ${names.get(m.sentTo) ?? m.sentTo.slice(0, 8)}: ${m.text}`
          : `[${time}] ${label(m.from.accountId)} (device ${m.from.deviceId}): ${m.text}`;
      }
      case 'receipt': {
        const r = item.receipt;
        return `  ${r.kind} to ${r.device.accountId.slice(0, 8)}/${r.device.deviceId} (${r.clientMessageId})`;
      }
      case 'undecryptable':
        return `a message from ${label(item.from.accountId)} (device ${item.from.deviceId}) could not be decrypted, even after asking for it again (${item.clientMessageId})`;
      case 'history':
        return `history from the primary: ${item.bytes} bytes`;
      case 'up-to-date':
        return '-- up to date --';
    }
  };
}

/**
 * Prints what the inbox kept, then what arrives, until the device is unlinked or Ctrl-C.
 * `names`: account id -> handle. Resolves once the kept items are printed; `exited` at the end.
 */
async function listen(
  client: TandemClient,
  inbox: Inbox,
  print: (line: string) => void,
  names: ReadonlyMap<string, string> = new Map(),
): Promise<{ exited: Promise<number> }> {
  client.on('disconnected', (d) =>
    print(`disconnected (${d.code})${d.willReconnect ? ', reconnecting …' : ''}`),
  );
  client.on('security-code-changed', (e) => print(`security code with ${e.accountId} changed`));
  const exited = new Promise<number>((resolveExit) => {
    client.on('unlinked', () => {
      print('this device was unlinked; its keys are wiped');
      resolveExit(0);
    });
    client.on('displaced', () => {
      print('another connection of this device took over');
      resolveExit(1);
    });
    process.once('SIGINT', () => void client.close().then(() => resolveExit(0)));
  });
  await inbox.release(formatter(names), print);
  return { exited };
}

function need(value: string | undefined, usage: string): string {
  if (!value) throw new TandemError('INVALID_ARGUMENT', `usage: tandem ${usage}`);
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
    process.stderr.write(`tandem: ${describeError(error)}\n`);
    process.exit(1);
  },
);
