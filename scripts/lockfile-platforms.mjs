#!/usr/bin/env node
// Restores package-lock.json entries for platform-specific optional packages that the npm
// registry reachable from our build machines does not serve (non-Linux builds of @biomejs/cli-*,
// @swc/core-*, @turbo/*, @unrs/resolver-binding-*). Without them `npm install` writes a lockfile
// that `npm ci` rejects ("Missing: … from lock file"). Each restored entry is what npm writes for
// such a package anywhere else: the pinned version, `optional: true` and its os/cpu/libc, derived
// from the package name — so `npm ci` skips it on any other platform without fetching it.
// Run after `npm install` changes the lockfile: node scripts/lockfile-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

const OS = {
  darwin: 'darwin',
  win32: 'win32',
  windows: 'win32',
  linux: 'linux',
  android: 'android',
  freebsd: 'freebsd',
  openharmony: 'openharmony',
};
const CPU = {
  arm64: 'arm64',
  aarch64: 'arm64',
  x64: 'x64',
  64: 'x64',
  arm: 'arm',
  armv7: 'arm',
  ia32: 'ia32',
  ppc64: 'ppc64',
  s390x: 's390x',
  loong64: 'loong64',
  riscv64: 'riscv64',
};

function platformOf(name) {
  const tokens = name.split('/').pop().split('-');
  const os = tokens.map((t) => OS[t]).find(Boolean);
  const cpu = tokens.map((t) => CPU[t]).find(Boolean);
  if (!os || !cpu) return undefined;
  const libc = tokens.some((t) => t.startsWith('musl'))
    ? 'musl'
    : tokens.some((t) => t.startsWith('gnu'))
      ? 'glibc'
      : undefined;
  return { os, cpu, libc };
}

const added = [];
for (const [where, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const candidates = [`${where ? `${where}/` : ''}node_modules/${name}`, `node_modules/${name}`];
    if (candidates.some((c) => packages[c])) continue;
    const p = platformOf(name);
    if (!p || !/^\d+\.\d+\.\d+/.test(spec)) {
      console.warn(`left alone: ${name}@${spec} (needed by ${where || 'the root'}); no platform in its name`);
      continue;
    }
    if (p.os === process.platform && p.cpu === process.arch && p.libc !== 'musl') {
      console.error(`${name} is for this platform and must really be installed; run npm install`);
      process.exit(1);
    }
    packages[`node_modules/${name}`] = {
      version: spec,
      cpu: [p.cpu],
      license: entry.license,
      optional: true,
      os: [p.os],
      ...(p.libc ? { libc: [p.libc] } : {}),
    };
    added.push(`${name}@${spec}`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `restored ${added.length} platform entries: ${added.join(', ')}` : 'lockfile complete',
);
