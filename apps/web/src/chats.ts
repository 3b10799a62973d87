import type { HistoryItem } from './history.js';
import { CONTACTS, MESSAGES, run } from './idb.js';

export type CopyState = 'queued' | 'delivered' | 'expired' | 'failed';

/** One message of a conversation, decrypted, as the page keeps it in IndexedDB. */
export interface ChatMessage {
  /** `out:<clientMessageId>` for this account's messages, `in:<account>:<clientMessageId>`, `h:…` for history. */
  id: string;
  /** The other account of the conversation. */
  with: string;
  direction: 'in' | 'out';
  from: { accountId: string; deviceId?: number };
  text: string;
  at: number;
  /** This device's own messages: the state of each copy, by `accountId/deviceId`. */
  copies: Record<string, CopyState>;
  source: 'live' | 'sync' | 'history';
  /** A message that arrived while its conversation was not open; cleared when it is opened. */
  unread?: boolean;
}

export interface Contact {
  accountId: string;
  handle: string;
}

export interface Conversation {
  with: string;
  last: ChatMessage | undefined;
  count: number;
  /** Messages that arrived while the conversation was not open. */
  unread: number;
}

export const deviceKey = (a: { accountId: string; deviceId: number }) => `${a.accountId}/${a.deviceId}`;

/**
 * Groups messages by the other account, most recent conversation first. `extra`: conversations
 * to list first even without messages (the one just started); `also`: ones to list last when
 * they have no messages (contacts looked up earlier).
 */
export function groupConversations(
  messages: readonly ChatMessage[],
  extra: readonly string[] = [],
  also: readonly string[] = [],
): Conversation[] {
  const map = new Map<string, Conversation>();
  for (const w of extra) map.set(w, { with: w, last: undefined, count: 0, unread: 0 });
  for (const m of messages) {
    const c = map.get(m.with) ?? { with: m.with, last: undefined, count: 0, unread: 0 };
    c.count++;
    if (m.unread) c.unread++;
    if (!c.last || m.at >= c.last.at) c.last = m;
    map.set(m.with, c);
  }
  const sorted = [...map.values()].sort((a, b) => (b.last?.at ?? Infinity) - (a.last?.at ?? Infinity));
  for (const w of also) if (!map.has(w)) sorted.push({ with: w, last: undefined, count: 0, unread: 0 });
  return sorted;
}

/**
 * Marks the unread messages of one conversation read, in place; returns the ones it changed
 * (to store them again).
 */
export function markRead(messages: readonly ChatMessage[], withAccount: string): ChatMessage[] {
  const changed = messages.filter((m) => m.with === withAccount && m.unread);
  for (const m of changed) m.unread = false;
  return changed;
}

/** The messages of one conversation, oldest first. */
export function conversationMessages(messages: readonly ChatMessage[], withAccount: string): ChatMessage[] {
  return messages.filter((m) => m.with === withAccount).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
}

/** Turns a history bundle's items into messages (ids stable, so a re-sent history does not duplicate). */
export function historyMessages(items: readonly HistoryItem[], ownAccountId: string): ChatMessage[] {
  return items.map((item, i) => ({
    id: `h:${item.with}:${item.at}:${i}`,
    with: item.with,
    direction: item.from === ownAccountId ? 'out' : 'in',
    from: { accountId: item.from },
    text: item.text,
    at: item.at,
    copies: {},
    source: 'history',
  }));
}

/** Conversations in IndexedDB (the `messages` and `contacts` object stores). */
export class ChatStore {
  constructor(private readonly db: IDBDatabase) {}

  all(): Promise<ChatMessage[]> {
    return run<ChatMessage[]>(this.db, MESSAGES, 'readonly', (tx) => tx.objectStore(MESSAGES).getAll());
  }

  async putMany(messages: readonly ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await run<undefined>(this.db, MESSAGES, 'readwrite', (tx) => {
      const store = tx.objectStore(MESSAGES);
      for (const m of messages) store.put(m);
      return undefined;
    });
  }

  /** Records a receipt on one of this device's messages; false when there is no such message (yet). */
  applyReceipt(id: string, device: string, state: CopyState): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const tx = this.db.transaction(MESSAGES, 'readwrite');
      const store = tx.objectStore(MESSAGES);
      let found = false;
      const req = store.get(id);
      req.onsuccess = () => {
        const m = req.result as ChatMessage | undefined;
        if (!m) return;
        found = true;
        // 'expired', 'failed' and 'delivered' are final; a late 'queued' never overwrites them.
        if (state !== 'queued' || m.copies[device] === undefined) m.copies[device] = state;
        store.put(m);
      };
      tx.oncomplete = () => resolve(found);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  contacts(): Promise<Contact[]> {
    return run<Contact[]>(this.db, CONTACTS, 'readonly', (tx) => tx.objectStore(CONTACTS).getAll());
  }

  async putContact(c: Contact): Promise<void> {
    await run(this.db, CONTACTS, 'readwrite', (tx) => tx.objectStore(CONTACTS).put(c));
  }

  /** Wipes conversations and contacts (the device was unlinked). */
  async clear(): Promise<void> {
    await run<undefined>(this.db, [MESSAGES, CONTACTS], 'readwrite', (tx) => {
      tx.objectStore(MESSAGES).clear();
      tx.objectStore(CONTACTS).clear();
      return undefined;
    });
  }
}
