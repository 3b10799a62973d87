// Stands in for `node:fs/promises` in the browser bundle: only FileStore.open imports it, and the
// page keeps its keys in IndexedDB (IndexedDbStore), never in a FileStore.
const unavailable = (): never => {
  throw new Error('node:fs is not available in the browser; use IndexedDbStore');
};
export const readFile = unavailable;
export const writeFile = unavailable;
export const rename = unavailable;
export const rm = unavailable;
