import type { Bus, BusSubscription } from '../../src/bus/bus.js';

/** In-memory bus: synchronous publish to exact-subject subscribers, request handlers by subject. */
export class FakeBus implements Bus {
  private readonly subs = new Map<string, Set<(d: Uint8Array) => void>>();
  readonly published: Array<{ subject: string; payload: Uint8Array }> = [];
  readonly handlers = new Map<string, (payload: Uint8Array) => Promise<Uint8Array> | Uint8Array>();
  flushes = 0;

  async request(subject: string, payload: Uint8Array): Promise<Uint8Array> {
    const h = this.handlers.get(subject);
    if (!h) throw new Error(`no handler for ${subject}`);
    return h(payload);
  }

  publish(subject: string, payload: Uint8Array): void {
    this.published.push({ subject, payload });
    for (const fn of [...(this.subs.get(subject) ?? [])]) fn(payload);
  }

  subscribe(subject: string, onMessage: (payload: Uint8Array) => void): BusSubscription {
    let set = this.subs.get(subject);
    if (!set) {
      set = new Set();
      this.subs.set(subject, set);
    }
    set.add(onMessage);
    return { unsubscribe: () => set.delete(onMessage) };
  }

  subscriberCount(subject: string): number {
    return this.subs.get(subject)?.size ?? 0;
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  private readonly reconnectListeners: Array<() => void> = [];
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }
  /** Simulates a NATS reconnect. */
  reconnect(): void {
    for (const l of this.reconnectListeners) l();
  }
}
