import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { RequestError, TimeoutError } from '@nats-io/nats-core';

/** Why a bus request produced no answer. */
export class BusUnavailableError extends Error {
  override readonly name = 'BusUnavailableError';
  constructor(
    readonly subject: string,
    readonly reason: 'timeout' | 'no_responders' | 'closed',
    options?: ErrorOptions,
  ) {
    super(`bus request to ${subject} failed: ${reason}`, options);
  }
}

export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * The gateway's only I/O to other services: NATS request/reply, publish and subscribe, as bytes.
 * Services depend on this interface; tests pass an in-memory fake.
 */
export interface Bus {
  /** Sends a request and resolves with the reply bytes; BusUnavailableError on timeout/no responders. */
  request(subject: string, payload: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>;
  publish(subject: string, payload: Uint8Array): void;
  /** The callback runs synchronously per message, in arrival order. */
  subscribe(subject: string, onMessage: (payload: Uint8Array) => void): BusSubscription;
  /** Resolves once the server has processed everything sent so far (e.g. subscription interest). */
  flush(): Promise<void>;
  /**
   * Calls `listener` after the connection to NATS was lost and re-established: messages published
   * meanwhile (events, inbox pushes) were missed, so caches built from events must be dropped.
   */
  onReconnect(listener: () => void): void;
}

export class NatsBus implements Bus {
  constructor(private readonly nc: NatsConnection) {}

  async request(subject: string, payload: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array> {
    try {
      const msg = await this.nc.request(subject, payload, { timeout: options.timeoutMs });
      return msg.data;
    } catch (err) {
      if (err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError)) {
        throw new BusUnavailableError(subject, 'timeout', { cause: err });
      }
      if (err instanceof RequestError && err.isNoResponders()) {
        throw new BusUnavailableError(subject, 'no_responders', { cause: err });
      }
      if (this.nc.isClosed() || this.nc.isDraining())
        throw new BusUnavailableError(subject, 'closed', { cause: err });
      throw err;
    }
  }

  publish(subject: string, payload: Uint8Array): void {
    this.nc.publish(subject, payload);
  }

  subscribe(subject: string, onMessage: (payload: Uint8Array) => void): BusSubscription {
    const sub: Subscription = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        onMessage(msg.data);
      },
    });
    return {
      unsubscribe: () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  onReconnect(listener: () => void): void {
    void (async () => {
      for await (const status of this.nc.status()) if (status.type === 'reconnect') listener();
    })();
  }
}
