type Listener<T> = (event: T) => void | Promise<void>;

/**
 * A small typed event emitter that runs in Node and browsers. `emitAsync` awaits every listener
 * in order (the SDK acknowledges a message only after its listeners have finished).
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Resolves with the next event of this kind. */
  once<K extends keyof Events>(event: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (e) => {
        off();
        resolve(e);
      });
    });
  }

  protected async emitAsync<K extends keyof Events>(event: K, payload: Events[K]): Promise<void> {
    for (const l of [...(this.listeners.get(event) ?? [])]) await (l as Listener<Events[K]>)(payload);
  }

  protected listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
