#!/usr/bin/env node
// Prints one row per package from each package's test-results/summary.json and a closing total
// line ("N passed, N failed"). Exits non-zero when any package failed or a package with tests
// left no summary.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const rows = [];
const missing = [];
for (const group of ['packages', 'apps', '.']) {
  const base = join(root, group);
  if (!existsSync(base)) continue;
  for (const name of readdirSync(base).sort()) {
    const dir = join(base, name);
    if (!existsSync(join(dir, 'jest.config.js'))) continue;
    const results = join(dir, 'test-results');
    if (!existsSync(join(results, 'summary.json'))) {
      missing.push(`${group}/${name}`);
      continue;
    }
    // summary.json, and summary-<tier>.json for a package's extra tiers (e.g. sdk's load tests).
    for (const file of readdirSync(results)
      .filter((f) => /^summary(-[a-z]+)?\.json$/.test(f))
      .sort()) {
      rows.push(JSON.parse(readFileSync(join(results, file), 'utf8')));
    }
  }
}
const pad = (s, n) => String(s).padEnd(n);
console.log(
  `\n${pad('package', 26)}${pad('suites', 8)}${pad('passed', 8)}${pad('failed', 8)}${pad('skipped', 8)}`,
);
for (const r of rows) {
  console.log(
    `${pad(r.package, 26)}${pad(r.suites, 8)}${pad(r.passed, 8)}${pad(r.failed, 8)}${pad(r.skipped, 8)}`,
  );
}
const total = rows.reduce(
  (t, r) => ({ passed: t.passed + r.passed, failed: t.failed + r.failed, skipped: t.skipped + r.skipped }),
  { passed: 0, failed: 0, skipped: 0 },
);
if (missing.length > 0) console.log(`no test summary from: ${missing.join(', ')}`);
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 || missing.length > 0 || rows.some((r) => !r.success) ? 1 : 0);
