/**
 * The history a phone sends to a newly linked web companion (with `sendHistory`): UTF-8 JSON, an
 * array of messages, oldest first:
 *
 *   [{ "with": "<other account id>", "from": "<sender account id>", "text": "hi", "at": 1700000000000,
 *      "handle": "bob" }]
 *
 * - `with`: the account the conversation is with (the other party);
 * - `from`: the account that wrote the message: `with` for a received message, the phone's own
 *   account id for one it sent;
 * - `text`: the message text; `at`: when it was sent, in milliseconds since the epoch;
 * - `handle` (optional): the other party's handle, shown instead of the account id.
 *
 * Items that do not fit are skipped (and counted), never fatal.
 */
export interface HistoryItem {
  with: string;
  from: string;
  text: string;
  at: number;
  handle?: string;
}

export const MAX_HISTORY_TEXT = 64 * 1024;

export function encodeHistory(items: readonly HistoryItem[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(items));
}

export function parseHistory(data: Uint8Array): { items: HistoryItem[]; skipped: number } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return { items: [], skipped: 1 };
  }
  if (!Array.isArray(json)) return { items: [], skipped: 1 };
  const items: HistoryItem[] = [];
  let skipped = 0;
  for (const raw of json as unknown[]) {
    const item = toItem(raw);
    if (item) items.push(item);
    else skipped++;
  }
  return { items, skipped };
}

function toItem(raw: unknown): HistoryItem | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o.with !== 'string' || o.with === '') return undefined;
  if (typeof o.from !== 'string' || o.from === '') return undefined;
  if (typeof o.text !== 'string' || o.text.length > MAX_HISTORY_TEXT) return undefined;
  if (typeof o.at !== 'number' || !Number.isFinite(o.at) || o.at < 0) return undefined;
  const item: HistoryItem = { with: o.with, from: o.from, text: o.text, at: o.at };
  if (typeof o.handle === 'string' && o.handle !== '') item.handle = o.handle;
  return item;
}
