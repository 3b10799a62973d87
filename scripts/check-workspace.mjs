#!/usr/bin/env node
// Workspace consistency, run by `npm run lint` (and so by CI):
// 1. Version families that are released in lockstep are pinned to one version everywhere
//    (@nestjs/* framework packages, prisma with @prisma/*, @nats-io/*, @bufbuild/protobuf with
//    protoc-gen-es, jest with @jest/*), and one package has one version across workspaces.
// 2. Every turbo test task re-runs when anything it imports or is configured by changes: it
//    depends on its dependencies' typecheck (whose hash covers their sources) and lists the root
//    jest preset and tsconfig among its inputs.
// Prints every problem, one a line, and exits 1 if there is any.
import { readFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const read = (p) => JSON.parse(readFileSync(new URL(p, root), 'utf8'));
const problems = [];

const rootPkg = read('package.json');
const manifests = [['package.json', rootPkg]];
for (const pattern of rootPkg.workspaces) {
  const dir = pattern.replace(/\/\*$/, '');
  if (dir === pattern) {
    manifests.push([`${dir}/package.json`, read(`${dir}/package.json`)]);
    continue;
  }
  const { readdirSync, existsSync } = await import('node:fs');
  for (const name of readdirSync(new URL(`${dir}/`, root))) {
    const p = `${dir}/${name}/package.json`;
    if (existsSync(new URL(p, root))) manifests.push([p, read(p)]);
  }
}

const FAMILIES = [
  { name: 'NestJS', match: (n) => n.startsWith('@nestjs/') },
  { name: 'Prisma', match: (n) => n === 'prisma' || n.startsWith('@prisma/') },
  { name: 'nats.js', match: (n) => n.startsWith('@nats-io/') },
  { name: 'protobuf-es', match: (n) => n === '@bufbuild/protobuf' || n === '@bufbuild/protoc-gen-es' },
  { name: 'jest', match: (n) => n === 'jest' || (n.startsWith('@jest/') && n !== '@jest/types') },
];

const seen = new Map(); // package -> Map(version -> [where])
for (const [where, pkg] of manifests) {
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
    for (const [name, version] of Object.entries(pkg[field] ?? {})) {
      if (version.startsWith('workspace:') || /^\d+\.\d+\.\d+$/.test(version) === false) continue;
      if (!seen.has(name)) seen.set(name, new Map());
      const at = seen.get(name);
      at.set(version, [...(at.get(version) ?? []), where]);
    }
  }
}
for (const [name, versions] of seen) {
  if (versions.size > 1) {
    problems.push(
      `${name} has ${versions.size} versions: ${[...versions].map(([v, w]) => `${v} (${w.join(', ')})`).join('; ')}`,
    );
  }
}
for (const family of FAMILIES) {
  const versions = new Map();
  for (const [name, at] of seen) {
    if (!family.match(name)) continue;
    for (const v of at.keys()) versions.set(v, [...(versions.get(v) ?? []), name]);
  }
  if (versions.size > 1) {
    problems.push(
      `${family.name} packages are on ${versions.size} versions: ${[...versions].map(([v, n]) => `${v} (${n.join(', ')})`).join('; ')}`,
    );
  }
}

const turbo = read('turbo.json');
for (const [task, def] of Object.entries(turbo.tasks)) {
  if (task !== 'test' && !task.startsWith('test:')) continue;
  const deps = def.dependsOn ?? [];
  if (!deps.includes('^typecheck')) {
    problems.push(
      `turbo task ${task} does not depend on ^typecheck: a change in a dependency's source can replay a cached result`,
    );
  }
  for (const input of ['$TURBO_ROOT$/jest.preset.js', '$TURBO_ROOT$/tsconfig.base.json']) {
    if (!(def.inputs ?? []).includes(input))
      problems.push(`turbo task ${task} does not list ${input} among its inputs`);
  }
}

for (const p of problems) console.error(`check-workspace: ${p}`);
if (problems.length) process.exit(1);
console.log(
  `check-workspace: ${manifests.length} manifests, ${seen.size} pinned packages, turbo test tasks: ok`,
);
