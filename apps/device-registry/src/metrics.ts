import { Counter, Histogram, type Registry } from '@tandem/service-kit';

export interface RegistryMetrics {
  requests: Counter<'subject' | 'result'>;
  duration: Histogram<'subject'>;
  events: Counter<'event'>;
}

/** Request counts by subject and result (ok or the ErrorCode name), latency per subject, events published. */
export function createRegistryMetrics(registry: Registry): RegistryMetrics {
  return {
    requests: new Counter({
      name: 'registry_requests_total',
      help: 'Requests handled, by subject and result (ok or the error code name)',
      labelNames: ['subject', 'result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'registry_request_duration_seconds',
      help: 'Request handling time, by subject',
      labelNames: ['subject'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    events: new Counter({
      name: 'registry_events_published_total',
      help: 'Events published, by event',
      labelNames: ['event'],
      registers: [registry],
    }),
  };
}
