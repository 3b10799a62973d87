/**
 * A small reader of schema.prisma, for the test that proves the migrations produce exactly the
 * schema's tables, columns, keys and indexes. It understands the subset of the Prisma schema
 * language this package uses and fails loudly on anything else.
 */
export interface SchemaField {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  nativeType: string | null;
  isId: boolean;
  isUnique: boolean;
  /** For relation fields with `fields:`: the local columns, the referenced model and its fields. */
  relation: { fields: string[]; model: string; references: string[] } | null;
}

export interface SchemaModel {
  name: string;
  table: string;
  fields: SchemaField[];
  id: string[] | null;
  uniques: string[][];
  indexes: string[][];
}

export interface ParsedSchema {
  models: SchemaModel[];
  enums: Map<string, string[]>;
}

const SCALARS = new Set([
  'String',
  'Int',
  'BigInt',
  'Float',
  'Boolean',
  'Bytes',
  'DateTime',
  'Decimal',
  'Json',
]);
const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function parsePrismaSchema(text: string): ParsedSchema {
  const src = text.replace(/\/\/.*$/gm, '');
  const enums = new Map<string, string[]>();
  for (const m of src.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    enums.set(m[1]!, m[2]!.split(/\s+/).filter(Boolean));
  }
  const rawModels = [...src.matchAll(/model\s+(\w+)\s*\{([^}]*)\}/g)].map((m) => ({
    name: m[1]!,
    body: m[2]!,
  }));
  const modelNames = new Set(rawModels.map((m) => m.name));
  const models: SchemaModel[] = rawModels.map(({ name, body }) => {
    const model: SchemaModel = { name, table: name, fields: [], id: null, uniques: [], indexes: [] };
    for (const rawLine of body.split('\n')) {
      const line = rawLine.trim();
      if (!line) continue;
      if (line.startsWith('@@')) {
        const m = /^@@(\w+)\((.*)\)$/.exec(line);
        if (!m) throw new Error(`unsupported block attribute: ${line}`);
        const [, kind, args] = m;
        const cols = /^\[([^\]]*)\]/.exec(args!);
        if (kind === 'map') model.table = /"([^"]+)"/.exec(args!)![1]!;
        else if (kind === 'id') model.id = list(cols![1]!);
        else if (kind === 'unique') model.uniques.push(list(cols![1]!));
        else if (kind === 'index') model.indexes.push(list(cols![1]!));
        else throw new Error(`unsupported block attribute: ${line}`);
        continue;
      }
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!m) throw new Error(`unsupported line in model ${name}: ${line}`);
      const [, fieldName, type, isList, optional, attrs] = m;
      const rel = /@relation\(([^)]*)\)/.exec(attrs!);
      const relFields = rel ? /fields:\s*\[([^\]]*)\]/.exec(rel[1]!) : null;
      const relRefs = rel ? /references:\s*\[([^\]]*)\]/.exec(rel[1]!) : null;
      if (!SCALARS.has(type!) && !enums.has(type!) && !modelNames.has(type!)) {
        throw new Error(`unknown type ${type} in ${name}.${fieldName}`);
      }
      model.fields.push({
        name: fieldName!,
        column: /@map\("([^"]+)"\)/.exec(attrs!)?.[1] ?? fieldName!,
        type: type!,
        optional: Boolean(optional),
        list: Boolean(isList),
        nativeType: /@db\.(\w+(?:\(\d+\))?)/.exec(attrs!)?.[1] ?? null,
        isId: /@id\b/.test(attrs!),
        isUnique: /@unique\b/.test(attrs!),
        relation:
          relFields && relRefs
            ? { fields: list(relFields[1]!), model: type!, references: list(relRefs[1]!) }
            : null,
      });
    }
    const single = model.fields.find((f) => f.isId);
    if (single) model.id = [single.name];
    for (const f of model.fields) if (f.isUnique) model.uniques.push([f.name]);
    return model;
  });
  return { models, enums };
}

/** The Postgres type (as pg's format_type prints it) Prisma gives a scalar field. */
export function expectedColumnType(field: SchemaField, enums: Map<string, string[]>): string {
  if (enums.has(field.type)) return `"${field.type}"`;
  const native = field.nativeType;
  switch (field.type) {
    case 'String':
      if (native === 'Uuid') return 'uuid';
      if (native === null || native === 'Text') return 'text';
      break;
    case 'Int':
      if (native === null) return 'integer';
      break;
    case 'BigInt':
      if (native === null) return 'bigint';
      break;
    case 'Float':
      if (native === null) return 'double precision';
      break;
    case 'Boolean':
      if (native === null) return 'boolean';
      break;
    case 'Bytes':
      if (native === null) return 'bytea';
      break;
    case 'DateTime': {
      if (native === null) return 'timestamp(3) without time zone';
      const tz = /^Timestamptz\((\d+)\)$/.exec(native);
      if (tz) return `timestamp(${tz[1]}) with time zone`;
      break;
    }
  }
  throw new Error(`no mapping for ${field.type} @db.${native} (${field.name})`);
}
