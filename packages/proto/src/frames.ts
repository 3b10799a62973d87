import type { ClientFrame, ServerFrame } from './gen/tandem/v1/frames_pb.js';

/** The oneof case names of ClientFrame.body (camelCase, e.g. 'registerRequestCode'). */
export type ClientFrameCase = NonNullable<ClientFrame['body']['case']>;
/** The oneof case names of ServerFrame.body (camelCase, e.g. 'sendResult'). */
export type ServerFrameCase = NonNullable<ServerFrame['body']['case']>;
/** The message type of one ClientFrame case, e.g. ClientFrameBody<'send'> = Send. */
export type ClientFrameBody<C extends ClientFrameCase> = Extract<ClientFrame['body'], { case: C }>['value'];
/** The message type of one ServerFrame case, e.g. ServerFrameBody<'deliver'> = Deliver. */
export type ServerFrameBody<C extends ServerFrameCase> = Extract<ServerFrame['body'], { case: C }>['value'];

/**
 * The successful response case for each request case. A request is answered by exactly one
 * ServerFrame with its request_id: this case or `error`.
 */
export const CLIENT_FRAME_RESPONSES = {
  authenticate: 'authenticated',
  ping: 'pong',
  registerRequestCode: 'registerCodeSent',
  registerVerify: 'registered',
  accountLookup: 'accountLookupResult',
  send: 'sendResult',
  ack: 'acked',
  prekeyUpload: 'prekeyUploadResult',
  prekeyCount: 'prekeyCountResult',
  bundleFetch: 'bundleResult',
  deviceListFetch: 'deviceList',
  linkStart: 'linkCode',
  linkApprove: 'linkApproved',
  linkComplete: 'linkCompleted',
  linkCancel: 'linkCancelled',
  unlink: 'unlinked',
  historyUpload: 'historyUploadResult',
  historyFetch: 'historyChunk',
} as const satisfies Record<ClientFrameCase, ServerFrameCase>;

/** The response case type of a request case, e.g. ResponseCase<'send'> = 'sendResult'. */
export type ResponseCase<C extends ClientFrameCase> = (typeof CLIENT_FRAME_RESPONSES)[C];

/** ServerFrame cases that are only ever pushed (request_id 0). */
export const SERVER_PUSH_CASES: ReadonlySet<ServerFrameCase> = new Set<ServerFrameCase>([
  'challenge',
  'deliver',
  'queueEmpty',
  'prekeysLow',
  'devicesChanged',
  'linkPayload',
  'goingAway',
]);

/** ServerFrame cases that are a response (request_id >= 1) or a push (request_id 0). */
export const SERVER_PUSH_OR_RESPONSE_CASES: ReadonlySet<ServerFrameCase> = new Set<ServerFrameCase>([
  'error',
  'linkCancelled',
]);

/**
 * ClientFrame cases the gateway accepts on a socket that is not authenticated. Any other case
 * there is answered with UNAUTHENTICATED. authenticate, register_*, link_start and link_complete
 * on an authenticated socket are answered with FORBIDDEN.
 */
export const UNAUTHENTICATED_CLIENT_CASES: ReadonlySet<ClientFrameCase> = new Set<ClientFrameCase>([
  'authenticate',
  'ping',
  'registerRequestCode',
  'registerVerify',
  'linkStart',
  'linkComplete',
  'linkCancel',
]);

/** ClientFrame cases only the primary device may send (others get NOT_PRIMARY). */
export const PRIMARY_ONLY_CLIENT_CASES: ReadonlySet<ClientFrameCase> = new Set<ClientFrameCase>([
  'linkApprove',
  'historyUpload',
]);
