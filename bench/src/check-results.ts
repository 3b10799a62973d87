/**
 * Self-check of a results file (default bench/results/latest.json): throws unless it has the
 * shape a complete run writes (every workload measured on both Tandem and the floor, ratios and
 * targets present).   npx tsx bench/src/check-results.ts [file]
 */
import { readFileSync } from 'node:fs';
import { checkResults } from './report.js';

const file = process.argv[2] ?? new URL('../results/latest.json', import.meta.url).pathname;
checkResults(JSON.parse(readFileSync(file, 'utf8')));
console.log(`${file}: well-formed`);
