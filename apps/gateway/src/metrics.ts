import { Counter, Gauge, Histogram, type Registry } from '@tandem/service-kit';

/** The gateway's Prometheus metrics, registered on the instance's own registry. */
export class GatewayMetrics {
  readonly connections: Gauge;
  readonly authenticated: Gauge;
  readonly framesIn: Counter;
  readonly framesOut: Counter;
  readonly errors: Counter;
  readonly closes: Counter;
  readonly sendLatency: Histogram;
  readonly deviceListCache: Counter;
  readonly stuckCopies: Counter;
  readonly dependencyUp: Gauge;

  constructor(registry: Registry) {
    this.connections = new Gauge({
      name: 'gateway_connections',
      help: 'Open WebSocket connections',
      registers: [registry],
    });
    this.authenticated = new Gauge({
      name: 'gateway_authenticated_connections',
      help: 'Open connections authenticated as a device',
      registers: [registry],
    });
    this.framesIn = new Counter({
      name: 'gateway_frames_in_total',
      help: 'Client frames received, by frame type',
      labelNames: ['type'],
      registers: [registry],
    });
    this.framesOut = new Counter({
      name: 'gateway_frames_out_total',
      help: 'Server frames sent, by frame type',
      labelNames: ['type'],
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'gateway_errors_total',
      help: 'Error frames sent, by error code name',
      labelNames: ['code'],
      registers: [registry],
    });
    this.closes = new Counter({
      name: 'gateway_closes_total',
      help: "Sockets closed, by close code (the server's, or the peer's when it closed first)",
      labelNames: ['code'],
      registers: [registry],
    });
    this.sendLatency = new Histogram({
      name: 'gateway_send_duration_seconds',
      help: 'Time from a send frame to its send_result (device-set check + delivery accept)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.deviceListCache = new Counter({
      name: 'gateway_device_list_cache_total',
      help: 'Device-list cache lookups for the send check, by result (hit, miss)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.stuckCopies = new Counter({
      name: 'gateway_stuck_copies_total',
      help: 'Queued copies found older than STUCK_AGE_MS and never pushed to their connected device (then pushed by a new drain); 0 when live pushes work',
      registers: [registry],
    });
    this.dependencyUp = new Gauge({
      name: 'gateway_dependency_up',
      help: 'Whether the last readiness probe of a dependency (delivery, registry) was answered (1) or not (0)',
      labelNames: ['dependency'],
      registers: [registry],
    });
  }
}
