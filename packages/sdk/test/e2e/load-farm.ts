// A device farm: a child process (node --conditions=@tandem/source --import tsx) holding some of
// the load tests' accounts, driven by the test over IPC (see load-harness.ts). The devices' Double
// Ratchet and X3DH run in pure JS (X25519 through @noble); 40 of them at 50 sends a second need
// more than the one core the test process (which also runs the services) has, so they run here.
//
// Messages from the test: setup {urls, indexes, tag} -> ready {accounts}; directory {accounts};
// run {options, textPrefix} -> ran; collect -> data {data}; close -> closed. The farm asks for
// verification codes with code {handle} and gets code {handle, code}.
import { useNodeRatchetPrimitives } from '@tandem/crypto/node';
import type { TandemClient } from '../../src/index.js';
import { type AccountInfo, createAccount, LoadRun, type RunOptions } from './load-core.js';

type FromTest =
  | { type: 'setup'; urls: string[]; indexes: number[]; tag: string; concurrency: number }
  | { type: 'directory'; accounts: AccountInfo[] }
  | { type: 'run'; options: RunOptions; textPrefix: string }
  | { type: 'collect' }
  | { type: 'close' }
  | { type: 'code'; handle: string; code: string };

useNodeRatchetPrimitives(); // as a Node application does (README, "In Node")

const send = (message: unknown) => process.send!(message);
const clients = new Map<string, TandemClient>();
const codeWaiters = new Map<string, (code: string) => void>();
let directory: AccountInfo[] = [];
let run: LoadRun | undefined;

const getCode = (handle: string) =>
  new Promise<string>((resolve) => {
    codeWaiters.set(handle, resolve);
    send({ type: 'code', handle });
  });

async function handle(message: FromTest): Promise<void> {
  switch (message.type) {
    case 'setup': {
      const accounts: AccountInfo[] = [];
      for (let i = 0; i < message.indexes.length; i += message.concurrency) {
        const batch = message.indexes.slice(i, i + message.concurrency);
        for (const made of await Promise.all(
          batch.map((index) => createAccount(message.urls, index, message.tag, getCode)),
        )) {
          accounts.push(made.info);
          for (const [key, client] of made.clients) clients.set(key, client);
        }
      }
      send({ type: 'ready', accounts });
      return;
    }
    case 'directory':
      directory = message.accounts;
      return;
    case 'run': {
      run = new LoadRun(directory, clients, message.textPrefix);
      send({ type: 'connected', all: [...clients.values()].every((c) => c.connected) });
      await run.run(message.options);
      send({ type: 'ran' });
      return;
    }
    case 'collect':
      send({ type: 'data', data: run?.data });
      return;
    case 'close':
      await Promise.allSettled([...clients.values()].map((c) => c.close()));
      send({ type: 'closed' });
      process.disconnect();
      return;
    case 'code':
      codeWaiters.get(message.handle)?.(message.code);
      codeWaiters.delete(message.handle);
      return;
  }
}

process.on('message', (message: FromTest) => {
  handle(message).catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  });
});
// The test went away: nothing left to do.
process.on('disconnect', () => setTimeout(() => process.exit(0), 1000).unref());
send({ type: 'hello' });
