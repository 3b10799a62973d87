#!/usr/bin/env node
// The `tandem` command: a device in a terminal. Each store file holds one device's keys.
//   tandem register <handle>        make this device the primary (phone) of a new account
//   tandem link                     show a QR code to link this device as a companion
//   tandem scan <payload>           (primary) approve the companion that shows <payload>
//   tandem send <handle> <text...>  send a message to every device of <handle>
//   tandem listen                   print messages and receipts as they arrive
//   tandem chat <handle>            listen, and send each line typed to <handle>
//   tandem devices [handle]         list an account's verified devices
//   tandem unlink [device-id]       unlink a companion (primary) or this device (companion)
//   tandem safety <handle>          show the safety number with <handle>
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { useNodeRatchetPrimitives } from '@tandem/crypto/node';
import { Platform } from '@tandem/proto';
import QRCode from 'qrcode';
import { type InboundMessage, TandemClient, type TandemOptions } from './client.js';
import { describeError, TandemError } from './errors.js';
import { FileStore } from './store.js';

const USAGE = `usage: tandem <command> [options]

commands:
  register <handle>                   register a new account; this device becomes its primary
  link                                show a QR code and wait for the primary to scan it
  scan <qr-payload>                   approve a companion (primary only)
  send <handle> <text...>             send a message to every device of <handle>
  listen                              print messages and receipts until Ctrl-C
  chat <handle>                       listen, and send every line you type to <handle>
  devices [handle]                    list verified devices (default: this account)
  unlink [device-id]                  unlink a companion, or this companion itself
  safety <handle>                     show the safety number with <handle>

options:
  --server <url>   gateway WebSocket URL (env TANDEM_URL, default ws://127.0.0.1:8080/v1/ws)
  --store <file>   this device's key file (env TANDEM_STORE, default ./tandem-device.json)
  --name <name>    device name shown in the device list
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
      print(`linked: device ${client.deviceId} of ${client.handle} (account ${client.accountId})`);
      return listen(client, print);
    }
    case 'scan': {
      const client = await connected(options);
      const { deviceId } = await client.approveLink(need(rest[0], 'scan <qr-payload>'));
      print(`approved: the companion is device ${deviceId}`);
      await client.close();
      return 0;
    }
    case 'send': {
      const client = await connected(options);
      const to = await resolve(client, need(rest[0], 'send <handle> <text...>'));
      const text = rest.slice(1).join(' ');
      if (!text) throw new TandemError('INVALID_ARGUMENT', 'nothing to send');
      const result = await client.send(to, { text });
      print(`sent to ${result.copies.length} device(s) (message ${result.clientMessageId})`);
      await client.close();
      return 0;
    }
    case 'listen': {
      return listen(await connected(options), print);
    }
    case 'chat': {
      const client = await connected(options);
      const who = need(rest[0], 'chat <handle>');
      const to = await resolve(client, who);
      const done = listen(client, print, new Map([[to, who]]));
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
      const code = await done;
      rl.close();
      return code;
    }
    case 'devices': {
      const client = await connected(options);
      const accountId = rest[0] ? await resolve(client, rest[0]) : client.accountId;
      for (const d of await client.devices(accountId)) {
        const me = accountId === client.accountId && d.deviceId === client.deviceId ? '  (this device)' : '';
        const role = d.deviceId === 1 ? 'primary' : 'companion';
        print(
          `${String(d.deviceId).padStart(2)}  ${role.padEnd(9)}  ${d.name || '-'}  ${Platform[d.platform]}${me}`,
        );
      }
      await client.close();
      return 0;
    }
    case 'unlink': {
      const client = await connected(options);
      const id = rest[0] === undefined ? client.deviceId : Number(rest[0]);
      if (!Number.isInteger(id) || id < 2)
        throw new TandemError('INVALID_ARGUMENT', 'device id must be 2 or more');
      await client.unlink(id);
      print(id === client.deviceId ? 'this device is unlinked; its keys are wiped' : `device ${id} unlinked`);
      await client.close();
      return 0;
    }
    case 'safety': {
      const client = await connected(options);
      const digits = await client.safetyNumber(await resolve(client, need(rest[0], 'safety <handle>')));
      print(digits.match(/.{5}/g)!.join(' '));
      await client.close();
      return 0;
    }
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

async function connected(options: TandemOptions): Promise<TandemClient> {
  const client = await TandemClient.open(options);
  client.on('warning', (w) => {
    process.stderr.write(`warning: ${w.message}\n`);
  });
  await client.connect();
  return client;
}

async function resolve(client: TandemClient, who: string): Promise<string> {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(who) ? who : client.lookup(who);
}

/** Prints what arrives until the device is unlinked or Ctrl-C. `names`: account id -> handle. */
function listen(
  client: TandemClient,
  print: (line: string) => void,
  names: ReadonlyMap<string, string> = new Map(),
): Promise<number> {
  const label = (m: InboundMessage) => names.get(m.from.accountId) ?? m.from.accountId.slice(0, 8);
  client.on('message', (m) => {
    const time = new Date(m.sentAtMs).toLocaleTimeString();
    if (m.sentTo)
      print(
        `[${time}] you (device ${m.from.deviceId}) → ${names.get(m.sentTo) ?? m.sentTo.slice(0, 8)}: ${m.text}`,
      );
    else print(`[${time}] ${label(m)} (device ${m.from.deviceId}): ${m.text}`);
  });
  client.on('receipt', (r) =>
    print(`  ${r.kind} to ${r.device.accountId.slice(0, 8)}/${r.device.deviceId} (${r.clientMessageId})`),
  );
  client.on('undecryptable', (u) =>
    print(
      `a message from ${names.get(u.from.accountId) ?? u.from.accountId.slice(0, 8)} (device ${u.from.deviceId}) could not be decrypted, even after asking for it again (${u.clientMessageId})`,
    ),
  );
  client.on('history', (h) => print(`history from the primary: ${h.data.length} bytes`));
  client.on('queue-empty', () => print('-- up to date --'));
  client.on('disconnected', (d) =>
    print(`disconnected (${d.code})${d.willReconnect ? ', reconnecting …' : ''}`),
  );
  client.on('security-code-changed', (e) => print(`security code with ${e.accountId} changed`));
  client.on('warning', (w) => {
    process.stderr.write(`warning: ${w.message}\n`);
  });
  return new Promise((resolveExit) => {
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
