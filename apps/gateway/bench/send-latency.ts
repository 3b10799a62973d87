/**
 * Send → send_result and send → deliver latency through two gateways (device on each) with the
 * real registry, delivery, NATS, Postgres and Redis, all in this process.
 *   node --import tsx --conditions=@tandem/source apps/gateway/bench/send-latency.ts [messages]
 */
import { expectCase, TestDevice } from '../test/helpers/device.js';
import { startStack } from '../test/helpers/stack.js';

const N = Number(process.argv[2] ?? 1000);
const pct = (xs: number[], p: number) =>
  xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2);

const stack = await startStack({
  gateways: 2,
  gatewayEnv: {
    SEND_RATE_PER_SEC: '100000',
    SEND_RATE_BURST: '100000',
    FRAME_RATE_PER_SEC: '100000',
    FRAME_RATE_BURST: '100000',
  },
});
try {
  const alice = await TestDevice.registerPrimary(stack, stack.gateways[0]!.url);
  const bob = await TestDevice.registerPrimary(stack, stack.gateways[1]!.url);
  const copies = await alice.fanout(bob.accountId);
  const accepted: number[] = [];
  const delivered: number[] = [];
  for (let i = 0; i < N; i++) {
    const before = bob.socket.pushes.length;
    const t0 = performance.now();
    const r = expectCase(
      await alice.socket.request(alice.sendBody(bob.accountId, copies, 200)),
      'sendResult',
    );
    accepted.push(performance.now() - t0);
    if (r.result.case !== 'accepted') throw new Error(r.result.case);
    await bob.socket.waitUntil(() => bob.socket.pushes.slice(before).find((f) => f.body.case === 'deliver'));
    delivered.push(performance.now() - t0);
  }
  accepted.sort((a, b) => a - b);
  delivered.sort((a, b) => a - b);
  console.log(`${N} sends, 200-byte ciphertext, sequential, gateway A -> gateway B`);
  console.log(`send -> send_result ms: p50 ${pct(accepted, 50)}  p99 ${pct(accepted, 99)}`);
  console.log(`send -> deliver     ms: p50 ${pct(delivered, 50)}  p99 ${pct(delivered, 99)}`);
} finally {
  await stack.close();
}
