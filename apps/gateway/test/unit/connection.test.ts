import { describe, expect, it } from '@jest/globals';
import { Connection } from '../../src/connection/connection.js';
import { ConnectionRegistry } from '../../src/connection/connection-registry.js';
import { TokenBucket } from '../../src/limits/token-bucket.js';
import { FakeSocket } from '../helpers/fake-socket.js';

const limits = {
  maxBufferedBytes: 100,
  slowConsumerCloseCode: 4410,
  violationsBeforeClose: 3,
  violationWindowMs: 1000,
};
const make = (socket = new FakeSocket()) =>
  new Connection(socket, '127.0.0.1', 0, limits, new TokenBucket({ capacity: 10, refillPerSec: 10 }, 0));

describe('Connection', () => {
  it('sends while the socket buffer stays under the bound', () => {
    const socket = new FakeSocket();
    const conn = make(socket);
    expect(conn.send(new Uint8Array(60))).toBe(true);
    expect(socket.sent).toHaveLength(1);
  });

  it('closes a slow reader with the slow-consumer code instead of buffering past the bound', () => {
    const socket = new FakeSocket();
    const conn = make(socket);
    socket.bufferedAmount = 90;
    expect(conn.send(new Uint8Array(20))).toBe(false);
    expect(socket.sent).toHaveLength(0);
    expect(socket.closed?.code).toBe(4410);
    expect(conn.isClosed).toBe(true);
    expect(conn.send(new Uint8Array(1))).toBe(false);
  });

  it('releases subscriptions and timers on close and tells listeners once', () => {
    const conn = make();
    let unsubscribed = 0;
    let fired = false;
    let listeners = 0;
    conn.addSubscription('inbox', { unsubscribe: () => unsubscribed++ });
    conn.setTimer(5, () => {
      fired = true;
    });
    conn.onClose(() => listeners++);
    conn.close(4409, 'displaced');
    conn.close(4409, 'displaced');
    conn.release();
    expect(unsubscribed).toBe(1);
    expect(listeners).toBe(1);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(fired).toBe(false);
        resolve();
      }, 20),
    );
  });

  it('unsubscribes a subscription added after close at once', () => {
    const conn = make();
    conn.close(1000, 'bye');
    let unsubscribed = false;
    conn.addSubscription('late', { unsubscribe: () => (unsubscribed = true) });
    expect(unsubscribed).toBe(true);
  });
});

describe('ConnectionRegistry', () => {
  it('binds one connection per device and hands back the displaced one', () => {
    const registry = new ConnectionRegistry();
    const first = make();
    const second = make();
    registry.add(first);
    registry.add(second);
    const device = { accountId: 'acc', deviceId: 2, isPrimary: false };
    first.state = { kind: 'authenticated', device };
    second.state = { kind: 'authenticated', device };
    expect(registry.bindDevice(first)).toBeUndefined();
    expect(registry.bindDevice(second)).toBe(first);
    first.close(4409, 'displaced');
    expect(registry.getDevice('acc', 2)).toBe(second);
    expect(registry.forAccount('acc')).toEqual([second]);
    second.release();
    expect(registry.getDevice('acc', 2)).toBeUndefined();
    expect(registry.forAccount('acc')).toEqual([]);
    expect(registry.size).toBe(0);
  });
});
