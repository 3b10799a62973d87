import { App } from './app.js';
import { gatewayUrl } from './format.js';
import { openDatabase } from './idb.js';

async function main(): Promise<void> {
  let db: IDBDatabase;
  try {
    db = await openDatabase();
  } catch (err) {
    document.body.textContent =
      `This browser does not let the page use IndexedDB (${String(err)}), where the device keeps ` +
      'its keys. Private windows of some browsers block it; open the page in a normal window.';
    return;
  }
  await new App(db, gatewayUrl(window.location)).start();
}

main().catch((err: unknown) => {
  console.error(err);
  const banner = document.getElementById('banner');
  if (banner) {
    banner.hidden = false;
    banner.textContent = `The page failed to start: ${err instanceof Error ? err.message : String(err)}`;
  }
});
