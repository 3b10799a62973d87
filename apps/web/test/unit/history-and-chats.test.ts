import { describe, expect, it } from '@jest/globals';
import {
  type ChatMessage,
  conversationMessages,
  groupConversations,
  historyMessages,
  markRead,
} from '../../src/chats.js';
import { formatSafetyNumber, gatewayUrl } from '../../src/format.js';
import { encodeHistory, parseHistory } from '../../src/history.js';

const msg = (id: string, withAccount: string, at: number, text = id): ChatMessage => ({
  id,
  with: withAccount,
  direction: 'in',
  from: { accountId: withAccount },
  text,
  at,
  copies: {},
  source: 'live',
});

describe('the history format', () => {
  it('round-trips items and keeps the optional handle', () => {
    const items = [
      { with: 'bob-id', from: 'bob-id', text: 'hi', at: 1, handle: 'bob' },
      { with: 'bob-id', from: 'me-id', text: 'hey', at: 2 },
    ];
    expect(parseHistory(encodeHistory(items))).toEqual({ items, skipped: 0 });
  });

  it('skips items that do not fit, and whole bundles that are not a JSON array', () => {
    const raw = new TextEncoder().encode(
      JSON.stringify([
        { with: 'a', from: 'a', text: 'ok', at: 5 },
        { with: '', from: 'a', text: 'no with', at: 5 },
        { with: 'a', from: 'a', text: 7, at: 5 },
        { with: 'a', from: 'a', text: 'bad time', at: -1 },
        null,
        'text',
      ]),
    );
    expect(parseHistory(raw)).toEqual({ items: [{ with: 'a', from: 'a', text: 'ok', at: 5 }], skipped: 5 });
    expect(parseHistory(new TextEncoder().encode('{"with":"a"}'))).toEqual({ items: [], skipped: 1 });
    expect(parseHistory(new Uint8Array([0xff, 0xfe]))).toEqual({ items: [], skipped: 1 });
  });

  it('turns items into messages: sent by this account = out, with stable ids', () => {
    const items = [
      { with: 'bob', from: 'bob', text: 'in', at: 1 },
      { with: 'bob', from: 'me', text: 'out', at: 2 },
    ];
    const first = historyMessages(items, 'me');
    expect(first.map((m) => [m.direction, m.source])).toEqual([
      ['in', 'history'],
      ['out', 'history'],
    ]);
    expect(historyMessages(items, 'me').map((m) => m.id)).toEqual(first.map((m) => m.id));
    expect(new Set(first.map((m) => m.id)).size).toBe(2);
  });
});

describe('conversations', () => {
  it('groups by the other account, most recent conversation first, and orders messages by time', () => {
    const all = [msg('1', 'bob', 10), msg('2', 'carol', 30), msg('3', 'bob', 20), msg('4', 'bob', 5)];
    const convs = groupConversations(all);
    expect(convs.map((c) => [c.with, c.count, c.last?.id])).toEqual([
      ['carol', 1, '2'],
      ['bob', 3, '3'],
    ]);
    expect(conversationMessages(all, 'bob').map((m) => m.id)).toEqual(['4', '1', '3']);
  });

  it('counts the unread messages of each conversation, and marks one read', () => {
    const all = [
      { ...msg('1', 'bob', 10), unread: true },
      { ...msg('2', 'bob', 20), unread: true },
      { ...msg('3', 'carol', 30), unread: true },
      msg('4', 'bob', 5),
    ];
    expect(groupConversations(all).map((c) => [c.with, c.unread])).toEqual([
      ['carol', 1],
      ['bob', 2],
    ]);
    expect(markRead(all, 'bob').map((m) => m.id)).toEqual(['1', '2']);
    expect(markRead(all, 'bob')).toEqual([]);
    expect(groupConversations(all).map((c) => [c.with, c.unread])).toEqual([
      ['carol', 1],
      ['bob', 0],
    ]);
  });

  it('lists a conversation just started (no messages yet) first', () => {
    const convs = groupConversations([msg('1', 'bob', 10)], ['dave']);
    expect(convs.map((c) => [c.with, c.count])).toEqual([
      ['dave', 0],
      ['bob', 1],
    ]);
  });

  it('lists conversations started earlier, still empty, after those with messages', () => {
    const convs = groupConversations([msg('1', 'bob', 10)], ['dave'], ['erin', 'bob', 'dave']);
    expect(convs.map((c) => [c.with, c.count])).toEqual([
      ['dave', 0],
      ['bob', 1],
      ['erin', 0],
    ]);
  });
});

describe('page settings', () => {
  it('takes the gateway from ?server=, else the same origin (wss on https)', () => {
    expect(gatewayUrl({ search: '?server=ws://10.0.0.1:8080/v1/ws', protocol: 'http:', host: 'x' })).toBe(
      'ws://10.0.0.1:8080/v1/ws',
    );
    expect(gatewayUrl({ search: '', protocol: 'https:', host: 'chat.example:443' })).toBe(
      'wss://chat.example:443/v1/ws',
    );
    expect(gatewayUrl({ search: '', protocol: 'http:', host: '127.0.0.1:8090' })).toBe(
      'ws://127.0.0.1:8090/v1/ws',
    );
    // Only WebSocket URLs are taken from the query.
    expect(gatewayUrl({ search: '?server=javascript:alert(1)', protocol: 'http:', host: 'h' })).toBe(
      'ws://h/v1/ws',
    );
  });

  it('shows a safety number in groups of five digits', () => {
    const n = '1234567890'.repeat(6);
    expect(formatSafetyNumber(n)).toBe(
      '12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890',
    );
  });
});
