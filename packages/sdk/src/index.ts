export {
  type DeviceAddress,
  type InboundMessage,
  type LinkSession,
  type ReceiptEvent,
  type SendResult,
  TandemClient,
  type TandemEvents,
  type TandemOptions,
  type TrustedDevice,
  verifyServedList,
} from './client.js';
export { describeError, TandemError } from './errors.js';
export { FileStore, type FileSystem, type KeyValueStore, MemoryStore } from './store.js';
export { Connection, type WebSocketConstructor, type WebSocketLike } from './transport.js';
