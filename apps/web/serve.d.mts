export declare const defaultRoot: string;
export declare function startServer(options?: {
  root?: string;
  port?: number;
  host?: string;
  /** A ws:// gateway URL: WebSocket upgrades of /v1/ws are relayed to it. */
  gateway?: string;
}): Promise<{
  url: string;
  port: number;
  close: () => Promise<void>;
}>;
