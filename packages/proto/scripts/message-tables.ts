// Prints the "Message reference" appendix of docs/protocol.md: one table per message with each
// field's number, type and validation rule, straight from the descriptors and src/validate.ts.
// Run: npx tsx packages/proto/scripts/message-tables.ts > /tmp/tables.md
import { type DescField, ScalarType } from '@bufbuild/protobuf';
import { ALL_MESSAGE_SCHEMAS, type FieldRule, RULES } from '../src/validate.js';

function typeOf(f: DescField): string {
  switch (f.fieldKind) {
    case 'scalar':
      return ScalarType[f.scalar].toLowerCase();
    case 'enum':
      return f.enum.name;
    case 'message':
      return f.message.name;
    case 'list':
      return `repeated ${f.listKind === 'message' ? f.message.name : f.listKind === 'enum' ? f.enum.name : ScalarType[f.scalar].toLowerCase()}`;
    default:
      return 'map';
  }
}

function describe(rule: FieldRule | undefined): string {
  if (rule === undefined) return '';
  switch (rule.t) {
    case 'str':
      return `${rule.what}${rule.optional ? ', or empty' : ''}`;
    case 'text':
      return `${rule.min}..${rule.max} characters, no control characters`;
    case 'bytes':
      return rule.min === rule.max
        ? `exactly ${rule.min} bytes${rule.key ? ' (else INVALID_KEY)' : ''}`
        : `${rule.min}..${rule.max} bytes`;
    case 'bytesOneOf':
      return `${rule.lengths.join(' or ')} bytes`;
    case 'u32':
      return rule.max === 0xffffffff
        ? rule.min === 0
          ? 'any'
          : `>= ${rule.min}`
        : `${rule.min}..${rule.max}`;
    case 'u64':
      return rule.min === 0n
        ? '0..2^53-1'
        : `${rule.min}..${rule.max === BigInt(Number.MAX_SAFE_INTEGER) ? '2^53-1' : rule.max}`;
    case 'bool':
      return 'any';
    case 'enum':
      return rule.unspecified ? 'known value (UNSPECIFIED allowed)' : 'known value, not UNSPECIFIED';
    case 'msg':
      return rule.required ? 'required' : 'optional';
    case 'list': {
      const item = rule.item === undefined ? '' : `; each ${describe(rule.item)}`;
      const unique = rule.uniqueWhat === undefined ? '' : `; unique ${rule.uniqueWhat}`;
      return `${rule.min}..${rule.max} items${item}${unique}`;
    }
    case 'oneof':
      return rule.required ? 'exactly one case required' : 'optional';
  }
}

/** The appendix text (docs/protocol.md holds it between the message-tables markers). */
export function messageTables(): string {
  const out: string[] = [];
  for (const schema of ALL_MESSAGE_SCHEMAS) {
    const rules = RULES[schema.typeName] ?? {};
    out.push(`#### ${schema.name}`, '');
    if (schema.fields.length === 0) {
      out.push('(no fields)', '');
      continue;
    }
    out.push('| # | field | type | rule |', '|---|---|---|---|');
    for (const f of schema.fields) {
      const rule =
        f.oneof === undefined
          ? describe(rules[f.name])
          : `oneof \`${f.oneof.name}\` (${describe(rules[f.oneof.name])})`;
      out.push(`| ${f.number} | \`${f.name}\` | ${typeOf(f)} | ${rule} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

if (process.argv[1]?.endsWith('message-tables.ts')) process.stdout.write(messageTables());
