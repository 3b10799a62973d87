import { Counter, Histogram, type Registry } from '@tandem/service-kit';
import type { DeliveryMetrics } from './ports.js';

/** Prometheus metrics of one delivery instance. */
export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  const accepted = new Counter({
    name: 'delivery_copies_accepted_total',
    help: 'Recipient copies newly stored by accepted sends',
    registers: [registry],
  });
  const acked = new Counter({
    name: 'delivery_copies_acked_total',
    help: 'Copies deleted because their device acknowledged them',
    registers: [registry],
  });
  const expired = new Counter({
    name: 'delivery_copies_expired_total',
    help: 'Copies removed by the sweeper because their TTL passed',
    registers: [registry],
  });
  const receipts = new Counter({
    name: 'delivery_receipts_queued_total',
    help: 'Delivered and expired receipts queued to senders',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'delivery_queue_op_duration_seconds',
    help: 'Latency of queue operations (Redis round trips included)',
    labelNames: ['op', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  return {
    copiesAccepted: (n) => accepted.inc(n),
    copiesAcked: (n) => acked.inc(n),
    copiesExpired: (n) => expired.inc(n),
    receiptsQueued: (n) => receipts.inc(n),
    async time(op, fn) {
      const end = latency.startTimer({ op });
      try {
        const value = await fn();
        end({ outcome: 'ok' });
        return value;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    },
  };
}
