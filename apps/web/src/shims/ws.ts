// Stands in for the `ws` package in the browser bundle. The SDK imports `ws` only when
// globalThis.WebSocket is missing, which never happens in a browser.
export default class NoWebSocket {
  constructor() {
    throw new Error('the `ws` package is not available in the browser; use the native WebSocket');
  }
}
