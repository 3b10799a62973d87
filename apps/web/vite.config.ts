import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The page bundles @tandem/sdk (and through it @tandem/proto and @tandem/crypto) from their
// TypeScript source via the "@tandem/source" export condition, like the tests do: no prior build.
// Two Node-only imports of the SDK never run in a browser but would otherwise be bundled:
// - `ws`: transport.ts imports it dynamically only when globalThis.WebSocket is missing;
// - `node:fs/promises`: store.ts imports it dynamically only in FileStore.open.
// Both are aliased to stubs that throw if ever reached (see src/shims/).
export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    conditions: ['@tandem/source', ...defaultClientConditions],
    alias: [
      { find: /^ws$/, replacement: here('./src/shims/ws.ts') },
      { find: /^node:fs\/promises$/, replacement: here('./src/shims/node-fs.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 2048,
  },
});
