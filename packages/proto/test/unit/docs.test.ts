// docs/protocol.md must name every frame, every bus subject, every error code (with its value and
// retryability) and every close code, and carry the current generated message reference.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { messageTables } from '../../scripts/message-tables.js';
import {
  CLOSE_CODE_RECONNECT,
  ClientFrameSchema,
  CloseCode,
  ERROR_CODE_INFO,
  ErrorCode,
  ErrorCodeSchema,
  eventSubjects,
  requestSubjects,
  ServerFrameSchema,
  subjects,
} from '../../src/index.js';

const docsPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'protocol.md');
const doc = readFileSync(docsPath, 'utf8');
const headings = new Set(
  doc
    .split('\n')
    .filter((l) => /^#{2,5} /.test(l))
    .flatMap((l) => [...l.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)),
);

describe('docs/protocol.md', () => {
  const frameCases = [ClientFrameSchema, ServerFrameSchema].flatMap((s) =>
    s.oneofs[0]!.fields.map((f) => f.name),
  );
  it.each(frameCases.map((c) => [c]))('has a section for the frame %s', (name) => {
    expect(headings.has(name)).toBe(true);
  });

  const catalog = subjects('tandem');
  const subjectNames = [...requestSubjects(catalog), ...eventSubjects(catalog)].map((s) => s.subject);
  it.each(subjectNames.map((s) => [s]))('documents the subject %s', (subject) => {
    expect(doc).toContain(`\`${subject}\``);
  });

  it('documents the inbox and link subjects', () => {
    expect(headings.has('tandem.v1.inbox.<account_id>.<device_id>')).toBe(true);
    expect(headings.has('tandem.v1.link.<link_id>')).toBe(true);
    expect(doc).toContain(`\`${catalog.inboxWildcard}\``);
    expect(doc).toContain(`\`${catalog.linkWildcard}\``);
  });

  const codes = ErrorCodeSchema.values.filter((v) => v.number !== ErrorCode.UNSPECIFIED);
  it.each(codes.map((v) => [v.localName, v.number]))('has a table row for ErrorCode %s', (name, value) => {
    const info = ERROR_CODE_INFO[value as keyof typeof ERROR_CODE_INFO];
    expect(info.name).toBe(name);
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    expect(row).toBeDefined();
    const cells = row!.split('|').map((c) => c.trim());
    expect(cells[2]).toBe(String(value));
    expect(cells[3]).toBe(info.retryable ? 'yes' : 'no');
  });

  it.each(Object.entries(CloseCode))('has a table row for close code %s', (name, code) => {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${code} |`));
    expect(row).toBeDefined();
    const cells = row!.split('|').map((c) => c.trim());
    expect(cells[2]).toBe(`\`${name}\``);
    expect(cells[3]).toBe(CLOSE_CODE_RECONNECT[code]);
  });

  it('has the sequence diagrams', () => {
    for (const flow of [
      'Register',
      'Connect and authenticate',
      'Send (with mismatched devices and retry)',
      'Deliver, ack and receipt',
      'Reconnect drain',
      'QR link',
      'History sync',
      'Unlink',
      'Expiry',
    ]) {
      const at = doc.indexOf(`### ${flow}\n`);
      expect(at).toBeGreaterThan(0);
      expect(doc.indexOf('```mermaid\nsequenceDiagram', at)).toBeGreaterThan(at);
    }
  });

  it('carries the current generated message reference', () => {
    const begin = '<!-- message-tables:begin -->\n';
    const start = doc.indexOf(begin) + begin.length;
    const end = doc.indexOf('\n<!-- message-tables:end -->');
    expect(doc.slice(start, end).trim()).toBe(messageTables().trim());
  });
});
