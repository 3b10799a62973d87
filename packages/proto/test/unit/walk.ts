// Walks a message and every message nested in it (fields, lists, oneofs), for coverage checks.
import type { DescMessage, Message } from '@bufbuild/protobuf';
import { ALL_MESSAGE_SCHEMAS } from '../../src/validate.js';

export const schemaByName = new Map<string, DescMessage>(ALL_MESSAGE_SCHEMAS.map((s) => [s.typeName, s]));

export interface Visit {
  schema: DescMessage;
  msg: Message;
}

/** Calls `visit` for `msg` and every nested message, and `onCase` for every set oneof case. */
export function walkMessage(
  msg: Message,
  visit: (v: Visit) => void,
  onCase: (typeName: string, oneof: string, fieldName: string) => void = () => {},
): void {
  const schema = schemaByName.get(msg.$typeName);
  if (schema === undefined) throw new Error(`unknown type ${msg.$typeName}`);
  visit({ schema, msg });
  const record = msg as unknown as Record<string, unknown>;
  for (const field of schema.fields) {
    if (field.oneof !== undefined) continue;
    const value = record[field.localName];
    if (field.fieldKind === 'message' && value !== undefined) walkMessage(value as Message, visit, onCase);
    if (field.fieldKind === 'list' && field.listKind === 'message') {
      for (const item of value as Message[]) walkMessage(item, visit, onCase);
    }
  }
  for (const oneof of schema.oneofs) {
    const selected = record[oneof.localName] as { case?: string; value?: unknown };
    if (selected.case === undefined) continue;
    const field = oneof.fields.find((f) => f.localName === selected.case)!;
    onCase(schema.typeName, oneof.name, field.name);
    if (field.fieldKind === 'message') walkMessage(selected.value as Message, visit, onCase);
  }
}
