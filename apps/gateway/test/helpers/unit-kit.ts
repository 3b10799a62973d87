import { create, type Deliver, DeliverSchema, decodeServerFrame, type ServerFrame } from '@tandem/proto';
import { createLogger, Registry } from '@tandem/service-kit';
import { Connection } from '../../src/connection/connection.js';
import { Outbound } from '../../src/connection/outbound.js';
import { TokenBucket } from '../../src/limits/token-bucket.js';
import { GatewayMetrics } from '../../src/metrics.js';
import { FakeSocket } from './fake-socket.js';

export const silentLogger = createLogger({ service: 'gateway-test', level: 'silent' });

export function makeOutbound(): { outbound: Outbound; metrics: GatewayMetrics } {
  const metrics = new GatewayMetrics(new Registry());
  return { outbound: new Outbound(metrics, silentLogger), metrics };
}

export function makeConnection(maxBufferedBytes = 1 << 20): { conn: Connection; socket: FakeSocket } {
  const socket = new FakeSocket();
  const conn = new Connection(
    socket,
    '127.0.0.1',
    Date.now(),
    { maxBufferedBytes, slowConsumerCloseCode: 4410, violationsBeforeClose: 5, violationWindowMs: 1000 },
    new TokenBucket({ capacity: 100, refillPerSec: 100 }, Date.now()),
  );
  return { conn, socket };
}

export function framesOf(socket: FakeSocket): ServerFrame[] {
  return socket.sent.map((b) => decodeServerFrame(b));
}

export function copy(
  seq: number,
  serverId = `00000000-0000-4000-8000-${seq.toString().padStart(12, '0')}`,
): Deliver {
  return create(DeliverSchema, {
    serverId,
    seq: BigInt(seq),
    sender: { accountId: 'aaaaaaaa-0000-4000-8000-000000000000', deviceId: 1 },
    clientMessageId: `m${seq}`,
    serverTimestampMs: 1n,
    expiresAtMs: 2n,
    content: { case: 'envelope', value: { type: 2, ciphertext: new Uint8Array([seq & 255]) } },
  });
}
