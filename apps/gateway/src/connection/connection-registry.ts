import { Injectable } from '@nestjs/common';
import { type Connection, deviceKey } from './connection.js';

/** The sockets this gateway instance holds, by connection, by device and by account. */
@Injectable()
export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly byDevice = new Map<string, Connection>();
  private readonly byAccount = new Map<string, Set<Connection>>();
  private readonly bound = new Map<Connection, { key: string; accountId: string }>();

  get size(): number {
    return this.all.size;
  }

  get authenticatedCount(): number {
    return this.byDevice.size;
  }

  add(conn: Connection): void {
    this.all.add(conn);
    conn.onClose((c) => this.remove(c));
  }

  /**
   * Binds an authenticated connection to its device; returns the connection it displaces on this
   * instance (if any), which the caller closes.
   */
  bindDevice(conn: Connection): Connection | undefined {
    const device = conn.device;
    if (!device) throw new Error('bindDevice needs an authenticated connection');
    const key = deviceKey(device.accountId, device.deviceId);
    const previous = this.byDevice.get(key);
    this.byDevice.set(key, conn);
    this.bound.set(conn, { key, accountId: device.accountId });
    let set = this.byAccount.get(device.accountId);
    if (!set) {
      set = new Set();
      this.byAccount.set(device.accountId, set);
    }
    set.add(conn);
    if (previous && previous !== conn) {
      set.delete(previous);
      this.bound.delete(previous);
      return previous;
    }
    return undefined;
  }

  getDevice(accountId: string, deviceId: number): Connection | undefined {
    return this.byDevice.get(deviceKey(accountId, deviceId));
  }

  forAccount(accountId: string): readonly Connection[] {
    return [...(this.byAccount.get(accountId) ?? [])];
  }

  connections(): readonly Connection[] {
    return [...this.all];
  }

  private remove(conn: Connection): void {
    this.all.delete(conn);
    const b = this.bound.get(conn);
    if (!b) return;
    this.bound.delete(conn);
    if (this.byDevice.get(b.key) === conn) this.byDevice.delete(b.key);
    const set = this.byAccount.get(b.accountId);
    if (set?.delete(conn) && set.size === 0) this.byAccount.delete(b.accountId);
  }
}
