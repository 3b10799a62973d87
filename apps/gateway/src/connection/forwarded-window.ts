/**
 * The server ids of the last `capacity` copies forwarded on one socket, to forward each copy once
 * however copies arrive (drain pages, live pushes in any seq order, from any number of delivery
 * instances). A ring of ids plus a Set: O(1) per copy, no I/O. The ring grows on demand up to
 * `capacity`, so a socket that forwarded few copies holds few ids; a socket that forwarded none
 * holds no window at all (Connection allocates it on the first forward).
 */
export class ForwardedWindow {
  private readonly ring: string[] = [];
  private readonly ids = new Set<string>();
  /** Next slot to overwrite once the ring is full. */
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer >= 1');
  }

  get size(): number {
    return this.ids.size;
  }

  has(serverId: string): boolean {
    return this.ids.has(serverId);
  }

  /** Records `serverId`; false (and nothing changes) when it is already in the window. */
  add(serverId: string): boolean {
    if (this.ids.has(serverId)) return false;
    if (this.ring.length < this.capacity) {
      this.ring.push(serverId);
    } else {
      this.ids.delete(this.ring[this.next] as string);
      this.ring[this.next] = serverId;
      this.next = (this.next + 1) % this.capacity;
    }
    this.ids.add(serverId);
    return true;
  }
}
