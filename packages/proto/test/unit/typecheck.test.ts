// Runs the TypeScript compiler on test/types/subject-payloads.ts with its @ts-expect-error comments
// removed: there must be errors on exactly the lines after the removed comments and nowhere else
// (so the file as written compiles, which `tsc -p packages/proto/tsconfig.json` checks as well). This proves a wrong payload for a subject does not compile.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'types', 'subject-payloads.ts');

function diagnostics(source: string): ts.Diagnostic[] {
  const configPath = join(here, '..', '..', 'tsconfig.json');
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (config === undefined) throw new Error('cannot read tsconfig.json');
  const host = ts.createCompilerHost(config.options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => (file === target ? source : readFile(file));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, onError, create) =>
    file === target ? ts.createSourceFile(file, source, lang) : getSourceFile(file, lang, onError, create);
  const program = ts.createProgram([target], { ...config.options, noEmit: true, types: [] }, host);
  return [...program.getSemanticDiagnostics(), ...program.getSyntacticDiagnostics()].filter(
    (d) => d.file?.fileName === target,
  );
}

describe('compile-time subject typing', () => {
  const original = readFileSync(target, 'utf8');
  const lines = original.split('\n');
  const marked = lines.flatMap((l, i) => (l.trim().startsWith('// @ts-expect-error') ? [i + 1] : []));

  it('has marked lines', () => {
    expect(marked.length).toBeGreaterThanOrEqual(7);
  });

  it('fails on every marked line, and only there, once the markers are removed', () => {
    const stripped = lines.map((l) => (l.trim().startsWith('// @ts-expect-error') ? '' : l)).join('\n');
    const errorLines = new Set(
      diagnostics(stripped).map((d) => d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line),
    );
    // line index (0-based) of the statement after each marker
    expect([...errorLines].sort((a, b) => a - b)).toEqual(marked.sort((a, b) => a - b));
  });
});
