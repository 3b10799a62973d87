// infra/compose.yaml agrees with the code: every variable each service's zod schema reads is set
// for each of its containers, with values the schema accepts; ports, healthchecks, commands and
// start-up order match what the services serve and need.
import { describe, expect, it } from '@jest/globals';
import {
  type ComposeService,
  composeEnv,
  defaultOf,
  envExample,
  interpolate,
  interpolatedNames,
  migrateKeys,
  readCompose,
  readDockerfile,
  readText,
  type ServiceName,
  schemaKeys,
  scriptArgv,
  serviceByName,
} from './helpers.js';

const compose = readCompose();
const composeText = readText('infra/compose.yaml');

/** Which Tandem service each Compose container runs. */
const containers: Record<string, ServiceName> = {
  'device-registry': 'device-registry',
  delivery: 'delivery',
  'gateway-1': 'gateway',
  'gateway-2': 'gateway',
};

const svc = (name: string): ComposeService => {
  const s = compose.services[name];
  if (!s) throw new Error(`compose.yaml has no service ${name}`);
  return s;
};

/** Milliseconds of a Compose duration such as "20s", "1m30s", "500ms". */
function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const n = Number(m[1]);
    total += n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}

/** host:port of a URL-valued variable, for each URL of a comma-separated list. */
const hostsOf = (value: string) => value.split(',').map((u) => new URL(u.trim()).hostname);

describe('compose.yaml', () => {
  it('keeps the infrastructure services scripts/ensure-services.mjs starts by name, with healthchecks', () => {
    const script = readText('scripts/ensure-services.mjs');
    for (const name of ['postgres', 'redis', 'nats']) {
      expect(script).toContain(`compose: '${name}'`);
      expect(svc(name).healthcheck?.test.length).toBeGreaterThan(0);
    }
  });

  it('runs every Tandem service: migrate, registry, delivery and two gateways', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'delivery',
        'device-registry',
        'gateway-1',
        'gateway-2',
        'migrate',
        'nats',
        'postgres',
        'redis',
      ].sort(),
    );
  });

  describe.each(Object.entries(containers))('%s', (container, service) => {
    const info = serviceByName(service);
    const env = composeEnv(svc(container));

    it(`sets every variable ${service}'s schema reads`, () => {
      const missing = schemaKeys(info.schema).filter((k) => !(k in env));
      expect(missing).toEqual([]);
    });

    it(`sets no variable ${service} does not read (no typos, nothing stale)`, () => {
      const unknown = Object.keys(env).filter((k) => !schemaKeys(info.schema).includes(k));
      expect(unknown).toEqual([]);
    });

    it('gives values the schema accepts, with the defaults and with infra/.env.example', () => {
      for (const vars of [{}, envExample()]) {
        const result = info.schema.safeParse(composeEnv(svc(container), vars));
        expect(
          result.success ? [] : result.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`),
        ).toEqual([]);
      }
    });

    it('probes /healthz on its OPS_PORT', () => {
      const test = svc(container).healthcheck?.test.join(' ') ?? '';
      const m = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(test);
      expect(m?.[2]).toBe('/healthz');
      expect(Number(m?.[1])).toBe(Number(env.OPS_PORT));
    });

    it('runs the package start script', () => {
      expect(svc(container).command).toEqual(scriptArgv(info.dir, 'start'));
    });

    it('is built from the Dockerfile target of the same name, as tandem/<target>', () => {
      const s = svc(container);
      expect(s.build?.target).toBe(service);
      expect(s.build?.context).toBe('..');
      expect(interpolate(s.image ?? '')).toMatch(new RegExp(`^tandem/${service}:[\\w.-]+$`));
      const targets = readDockerfile().stages.map((st) => st.name);
      expect(targets).toContain(service);
    });

    it('lets the graceful shutdown finish: stop_grace_period > SHUTDOWN_TIMEOUT_MS', () => {
      expect(durationMs(svc(container).stop_grace_period ?? '10s')).toBeGreaterThan(
        Number(env.SHUTDOWN_TIMEOUT_MS),
      );
    });

    it('waits for NATS to be healthy, and reaches it by its Compose name', () => {
      expect(svc(container).depends_on?.nats?.condition).toBe('service_healthy');
      expect(hostsOf(env.NATS_URL ?? '')).toEqual(['nats']);
    });
  });

  it('publishes each gateway on its own host port, to the container port PORT', () => {
    const published = ['gateway-1', 'gateway-2'].map((name) => {
      const env = composeEnv(svc(name));
      const ports = (svc(name).ports ?? []).map((p) => interpolate(p));
      expect(ports).toHaveLength(1);
      const parts = (ports[0] as string).split(':');
      expect(Number(parts.at(-1))).toBe(Number(env.PORT));
      return parts.slice(0, -1).join(':');
    });
    expect(new Set(published).size).toBe(2);
  });

  it('starts the registry only after migrate completed and Postgres is healthy', () => {
    const deps = svc('device-registry').depends_on ?? {};
    expect(deps.migrate?.condition).toBe('service_completed_successfully');
    expect(deps.postgres?.condition).toBe('service_healthy');
    expect(hostsOf(composeEnv(svc('device-registry')).DATABASE_URL ?? '')).toEqual(['postgres']);
    expect(composeEnv(svc('device-registry')).MIGRATE_ON_START).toBe('false');
  });

  it('starts delivery after Redis is healthy and points it at the redis service', () => {
    expect(svc('delivery').depends_on?.redis?.condition).toBe('service_healthy');
    expect(hostsOf(composeEnv(svc('delivery')).REDIS_URL ?? '')).toEqual(['redis']);
  });

  it('starts the gateways after registry and delivery are healthy', () => {
    for (const name of ['gateway-1', 'gateway-2']) {
      const deps = svc(name).depends_on ?? {};
      expect(deps['device-registry']?.condition).toBe('service_healthy');
      expect(deps.delivery?.condition).toBe('service_healthy');
    }
  });

  it('runs migrate once, with the runner of npm run migrate, the variables it reads, after Postgres', () => {
    const m = svc('migrate');
    expect(m.command).toEqual(scriptArgv('apps/device-registry', 'migrate'));
    expect(m.restart).toBe('no');
    expect(m.build?.target).toBe('migrate');
    expect(Object.keys(m.environment ?? {}).sort()).toEqual(migrateKeys().sort());
    expect(m.depends_on?.postgres?.condition).toBe('service_healthy');
    // Same database as the registry.
    expect(composeEnv(m).DATABASE_URL).toBe(composeEnv(svc('device-registry')).DATABASE_URL);
  });

  it('has a healthcheck on every service another one waits for as service_healthy', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(compose.services[dep]).toBeDefined();
        if (condition === 'service_healthy') {
          expect({ service: name, dep, healthcheck: !!svc(dep).healthcheck }).toEqual({
            service: name,
            dep,
            healthcheck: true,
          });
        }
      }
    }
  });

  it('keeps the datastores durable: volumes for all three, Redis append-only file, NATS JetStream', () => {
    for (const name of ['postgres', 'redis', 'nats']) {
      const volume = (svc(name).volumes ?? [])[0]?.split(':')[0] as string;
      expect(compose.volumes).toHaveProperty(volume);
    }
    expect(svc('redis').command?.join(' ')).toMatch(/--appendonly yes/);
    expect(svc('nats').command).toEqual(expect.arrayContaining(['-js', '-sd']));
  });

  it('documents in infra/.env.example every variable it interpolates', () => {
    const documented = Object.keys(envExample());
    expect(interpolatedNames(composeText).filter((n) => !documented.includes(n))).toEqual([]);
  });

  it('sets gateway values that agree with the schema defaults where it repeats them', () => {
    // The explicit listing must not silently drift from the code's defaults for the ports.
    const env = composeEnv(svc('gateway-1'));
    const gateway = serviceByName('gateway').schema;
    expect(Number(env.PORT)).toBe(defaultOf(gateway, 'PORT'));
    expect(Number(env.OPS_PORT)).toBe(defaultOf(gateway, 'OPS_PORT'));
  });
});
