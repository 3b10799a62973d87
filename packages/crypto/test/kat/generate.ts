// Writes test/kat/tandem-v1.json. Run from the repo root:
//   npx tsx --conditions=@tandem/source packages/crypto/test/kat/generate.ts
import { writeFileSync } from 'node:fs';
import { computeKat } from './compute.js';

const out = new URL('./tandem-v1.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(computeKat(), null, 2)}\n`);
process.stdout.write(`wrote ${out.pathname}\n`);
