// The Kustomize overlays render (kubectl kustomize, offline) and what they render agrees with the
// code: every variable each service's schema reads is set for each of its Deployments/Jobs with
// a value the schema accepts; ports, probes, commands, shutdown timing, security and network
// policies match what the services serve and need. Without kubectl these tests are reported as
// skipped, never passed.
import { describe, expect } from '@jest/globals';
import {
  appLabel,
  builtTarget,
  type Container,
  containerEnv,
  containersOf,
  type EnvSource,
  itIf,
  type K8sObject,
  kubectlAvailable,
  lastEffective,
  migrateKeys,
  named,
  type Overlay,
  ofKind,
  overlays,
  readDockerfile,
  readText,
  renderOverlay,
  resolvePort,
  type ServiceName,
  schemaKeys,
  scriptArgv,
  serviceByName,
  services,
  workloads,
} from './helpers.js';

const it = itIf(kubectlAvailable, 'kubectl not found: overlays cannot be rendered on this machine');

const render = (overlay: Overlay) => renderOverlay(overlay);

const onlyContainer = (o: K8sObject): Container => {
  const cs = o.spec.template.spec.containers;
  expect(cs).toHaveLength(1);
  return cs[0];
};

const valueIn = (env: Map<string, EnvSource>, key: string): string => {
  const source = env.get(key);
  if (source?.kind !== 'value') throw new Error(`${key} is not set to a value (${JSON.stringify(source)})`);
  return source.value;
};

/** Seconds a preStop `sleep N` hook waits (0 without one). */
function preStopSeconds(container: Container): number {
  const hook = container.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return Number(hook.sleep.seconds);
  const command: string[] = hook.exec?.command ?? [];
  const m = /sleep\s+(\d+)/.exec(command.join(' '));
  if (!m) throw new Error(`unrecognised preStop hook ${JSON.stringify(hook)}`);
  return Number(m[1]);
}

/** Env values the schema can check: external Secrets' values are unknown here. */
function checkableEnv(env: Map<string, EnvSource>) {
  const values: Record<string, string> = {};
  const external: string[] = [];
  for (const [k, v] of env) {
    if (v.kind === 'value') values[k] = v.value;
    else external.push(k);
  }
  return { values, external };
}

const podSelects = (
  selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>,
) => !!selector && Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

describe.each(overlays)('k8s overlay %s', (overlay) => {
  it('renders with kubectl kustomize, every object with apiVersion, kind and name', () => {
    const objects = render(overlay);
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) {
      expect(typeof o.apiVersion).toBe('string');
      expect(typeof o.kind).toBe('string');
      expect(typeof o.metadata?.name).toBe('string');
    }
    const namespaces = new Set(
      objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace),
    );
    expect([...namespaces]).toEqual([ofKind(objects, 'Namespace')[0]?.metadata.name]);
  });

  describe.each(services.map((s) => s.name))('%s', (service: ServiceName) => {
    const info = serviceByName(service);

    it('is a Deployment whose single container runs the package start script', () => {
      const d = named(render(overlay), 'Deployment', service);
      expect(onlyContainer(d).command).toEqual(scriptArgv(info.dir, 'start'));
    });

    it(`sets every variable ${service}'s schema reads, and none it does not read`, () => {
      const objects = render(overlay);
      const env = containerEnv(objects, onlyContainer(named(objects, 'Deployment', service)));
      const keys = schemaKeys(info.schema);
      expect(keys.filter((k) => !env.has(k))).toEqual([]);
      expect([...env.keys()].filter((k) => !keys.includes(k))).toEqual([]);
    });

    it('gives values the schema accepts', () => {
      const objects = render(overlay);
      const { values, external } = checkableEnv(
        containerEnv(objects, onlyContainer(named(objects, 'Deployment', service))),
      );
      const result = info.schema.safeParse(values);
      const issues = result.success
        ? []
        : result.error.issues.map((i) => String(i.path[0])).filter((k) => !external.includes(k));
      expect(issues).toEqual([]);
    });

    it('exposes the ops port OPS_PORT and probes /readyz (readiness) and /healthz (liveness) on it', () => {
      const objects = render(overlay);
      const c = onlyContainer(named(objects, 'Deployment', service));
      const opsPort = Number(valueIn(containerEnv(objects, c), 'OPS_PORT'));
      expect(resolvePort(c, 'ops')).toBe(opsPort);
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(resolvePort(c, c.readinessProbe.httpGet.port)).toBe(opsPort);
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(resolvePort(c, c.livenessProbe.httpGet.port)).toBe(opsPort);
    });

    it('gives the pod more time to stop than preStop + SHUTDOWN_TIMEOUT_MS', () => {
      const objects = render(overlay);
      const d = named(objects, 'Deployment', service);
      const c = onlyContainer(d);
      const shutdownS = Number(valueIn(containerEnv(objects, c), 'SHUTDOWN_TIMEOUT_MS')) / 1000;
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
        preStopSeconds(c) + shutdownS,
      );
    });

    it('has a PodDisruptionBudget and a scrape Service on the ops port', () => {
      const objects = render(overlay);
      const labels = named(objects, 'Deployment', service).spec.template.metadata.labels;
      expect(
        ofKind(objects, 'PodDisruptionBudget').filter((p) => podSelects(p.spec.selector, labels)),
      ).toHaveLength(1);
      const c = onlyContainer(named(objects, 'Deployment', service));
      const opsServices = ofKind(objects, 'Service').filter(
        (s) =>
          podSelects({ matchLabels: s.spec.selector }, labels) &&
          s.spec.ports.some(
            (p: { targetPort: string | number }) => resolvePort(c, p.targetPort) === resolvePort(c, 'ops'),
          ),
      );
      expect(opsServices.length).toBeGreaterThanOrEqual(1);
    });
  });

  it('serves the gateway WebSocket on containerPort PORT, behind the gateway Service', () => {
    const objects = render(overlay);
    const c = onlyContainer(named(objects, 'Deployment', 'gateway'));
    const port = Number(valueIn(containerEnv(objects, c), 'PORT'));
    expect(resolvePort(c, 'ws')).toBe(port);
    const svc = named(objects, 'Service', 'gateway');
    expect(svc.spec.ports.map((p: { targetPort: string | number }) => resolvePort(c, p.targetPort))).toEqual([
      port,
    ]);
  });

  it('lets gateway endpoints deregister before SIGTERM (preStop sleep)', () => {
    const c = onlyContainer(named(render(overlay), 'Deployment', 'gateway'));
    expect(preStopSeconds(c)).toBeGreaterThanOrEqual(3);
  });

  it('autoscales the gateway and delivery Deployments', () => {
    const objects = render(overlay);
    const targets = ofKind(objects, 'HorizontalPodAutoscaler').map((h) => {
      expect(h.spec.minReplicas).toBeGreaterThanOrEqual(1);
      expect(h.spec.maxReplicas).toBeGreaterThan(h.spec.minReplicas);
      named(objects, h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name);
      return h.spec.scaleTargetRef.name;
    });
    expect(targets.sort()).toEqual(['delivery', 'gateway']);
    // The autoscaler owns the count: a Deployment replicas value would reset it on every apply.
    for (const name of targets) expect(named(objects, 'Deployment', name).spec.replicas).toBeUndefined();
  });

  it('runs migrations in a Job with the runner of npm run migrate and only the variables it reads', () => {
    const objects = render(overlay);
    const jobs = ofKind(objects, 'Job');
    expect(jobs).toHaveLength(1);
    const c = onlyContainer(jobs[0] as K8sObject);
    expect(c.command).toEqual(scriptArgv('apps/device-registry', 'migrate'));
    const env = containerEnv(objects, c);
    expect([...env.keys()].sort()).toEqual(migrateKeys().sort());
    expect(jobs[0]?.spec.template.spec.restartPolicy).not.toBe('Always');
  });

  it('takes DATABASE_URL from a Secret (registry and migrate alike), never from a ConfigMap', () => {
    const objects = render(overlay);
    const sources = [named(objects, 'Deployment', 'device-registry'), ...ofKind(objects, 'Job')].map((o) =>
      onlyContainer(o).env.find((e: { name: string }) => e.name === 'DATABASE_URL'),
    );
    for (const s of sources) expect(s.valueFrom.secretKeyRef.key).toBe('DATABASE_URL');
    expect(new Set(sources.map((s) => s.valueFrom.secretKeyRef.name)).size).toBe(1);
    for (const cm of ofKind(objects, 'ConfigMap'))
      expect(Object.keys(cm.data ?? {})).not.toContain('DATABASE_URL');
  });

  it('sets requests and limits on every container', () => {
    for (const w of workloads(render(overlay))) {
      for (const c of containersOf(w)) {
        expect({
          w: w.metadata.name,
          cpu: c.resources?.requests?.cpu,
          mem: c.resources?.limits?.memory,
        }).toEqual({
          w: w.metadata.name,
          cpu: expect.any(String),
          mem: expect.any(String),
        });
        expect(c.resources.limits.cpu).toBeDefined();
        expect(c.resources.requests.memory).toBeDefined();
      }
    }
  });

  it('runs every container non-root, read-only, without privilege escalation or capabilities', () => {
    for (const w of workloads(render(overlay))) {
      const pod = w.spec.template.spec;
      for (const c of containersOf(w)) {
        const sc = c.securityContext ?? {};
        const summary = {
          workload: w.metadata.name,
          runAsNonRoot: sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot,
          readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
          allowPrivilegeEscalation: sc.allowPrivilegeEscalation,
          drop: sc.capabilities?.drop,
        };
        expect(summary).toEqual({
          workload: w.metadata.name,
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          drop: ['ALL'],
        });
      }
    }
  });

  it("runs Tandem's containers as the numeric user their Dockerfile target sets", () => {
    const dockerfile = readDockerfile();
    for (const w of workloads(render(overlay))) {
      for (const c of containersOf(w)) {
        const target = builtTarget(c.image);
        if (!target) continue;
        const [uid, gid] = (lastEffective(dockerfile, target, 'USER')?.args ?? '').split(':').map(Number);
        const pod = w.spec.template.spec.securityContext ?? {};
        expect({ image: c.image, uid: c.securityContext?.runAsUser ?? pod.runAsUser }).toEqual({
          image: c.image,
          uid,
        });
        expect(c.securityContext?.runAsGroup ?? pod.runAsGroup).toBe(gid);
      }
    }
  });

  it('names only images built by the Dockerfile or pinned third-party datastore images', () => {
    const dockerTargets = (readText('Dockerfile').match(/^FROM\s+\S+\s+AS\s+(\S+)/gim) ?? []).map((l) =>
      (l.split(/\s+/).at(-1) as string).trim(),
    );
    for (const w of workloads(render(overlay))) {
      for (const c of containersOf(w)) {
        const image: string = c.image;
        const target = /^(?:\S+\/)?tandem\/([a-z0-9-]+):([\w.-]+)$/.exec(image)?.[1];
        if (target) expect(dockerTargets).toContain(target);
        else expect(image).toMatch(/^(postgres|redis|nats):[\w.-]+$/);
        expect(image).not.toMatch(/:latest$/);
      }
    }
  });

  it('lets only the gateway WebSocket port be reached from outside the namespace', () => {
    const objects = render(overlay);
    const policies = ofKind(objects, 'NetworkPolicy');
    // A default deny for every pod of the namespace.
    expect(
      policies.some(
        (p) =>
          Object.keys(p.spec.podSelector ?? {}).length === 0 &&
          p.spec.policyTypes.includes('Ingress') &&
          !(p.spec.ingress?.length > 0),
      ),
    ).toBe(true);
    const gatewayPort = Number(
      valueIn(containerEnv(objects, onlyContainer(named(objects, 'Deployment', 'gateway'))), 'PORT'),
    );
    for (const p of policies) {
      for (const rule of p.spec.ingress ?? []) {
        const peers: Array<Record<string, unknown>> = rule.from ?? [];
        const open = peers.length === 0 || peers.some((peer) => 'ipBlock' in peer);
        const crossNamespace = peers.filter((peer) => 'namespaceSelector' in peer);
        if (open) {
          // Open to the world: only the gateway, only on PORT.
          expect(p.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'gateway' });
          expect(rule.ports.map((x: { port: number }) => x.port)).toEqual([gatewayPort]);
        }
        for (const peer of crossNamespace) {
          // From another namespace only the monitoring namespace, for scrapes.
          expect(peer.namespaceSelector).toEqual({
            matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
          });
        }
      }
    }
  });

  it('makes only the gateway Service reachable from outside the cluster', () => {
    const external = ofKind(render(overlay), 'Service').filter((s) =>
      ['LoadBalancer', 'NodePort'].includes(s.spec.type),
    );
    for (const s of external) expect(s.metadata.name).toBe('gateway');
  });
});

describe('k8s overlay dev', () => {
  const objects = () => renderOverlay('dev');
  const env = (name: string) => containerEnv(objects(), onlyContainer(named(objects(), 'Deployment', name)));
  const host = (value: string) => value.split(',').map((u) => new URL(u.trim()).hostname);

  it('runs single-instance Postgres, Redis (append-only file) and NATS (JetStream) StatefulSets on volumes', () => {
    for (const name of ['postgres', 'redis', 'nats']) {
      const s = named(objects(), 'StatefulSet', name);
      expect(s.spec.replicas).toBe(1);
      expect(s.spec.volumeClaimTemplates).toHaveLength(1);
    }
    const redis = onlyContainer(named(objects(), 'StatefulSet', 'redis'));
    expect([...redis.command, ...(redis.args ?? [])].join(' ')).toMatch(/--appendonly yes/);
    const nats = onlyContainer(named(objects(), 'StatefulSet', 'nats'));
    expect([...(nats.command ?? []), ...(nats.args ?? [])]).toContain('-js');
  });

  it('points the services at the in-namespace datastore Services', () => {
    const serviceNames = ofKind(objects(), 'Service').map((s) => s.metadata.name);
    for (const name of ['gateway', 'device-registry', 'delivery']) {
      for (const h of host(valueIn(env(name), 'NATS_URL'))) expect(serviceNames).toContain(h);
    }
    expect(host(valueIn(env('device-registry'), 'DATABASE_URL'))).toEqual(['postgres']);
    expect(host(valueIn(env('delivery'), 'REDIS_URL'))).toEqual(['redis']);
  });

  it('lets each datastore accept connections only from the services that use it', () => {
    const users: Record<string, string[]> = {
      postgres: ['device-registry', 'migrate'],
      redis: ['delivery'],
      nats: ['delivery', 'device-registry', 'gateway'],
    };
    const policies = ofKind(objects(), 'NetworkPolicy');
    for (const [store, expected] of Object.entries(users)) {
      const s = named(objects(), 'StatefulSet', store);
      const labels = s.spec.template.metadata.labels;
      const dataPort = onlyContainer(s).ports[0].containerPort;
      const allowed = new Set<string>();
      for (const p of policies.filter((x) => podSelects(x.spec.podSelector, labels))) {
        for (const rule of p.spec.ingress ?? []) {
          const ports = (rule.ports ?? []).map((x: { port: number }) => x.port);
          if (ports.length > 0 && !ports.includes(dataPort)) continue;
          expect(rule.from?.length).toBeGreaterThan(0);
          for (const peer of rule.from) {
            expect(peer.namespaceSelector).toBeUndefined();
            allowed.add(peer.podSelector.matchLabels['app.kubernetes.io/name']);
          }
        }
      }
      expect([...allowed].sort()).toEqual(expected);
      // Those labels name real workloads.
      for (const name of expected) expect(workloads(objects()).map(appLabel)).toContain(name);
    }
  });
});

describe('k8s overlay prod', () => {
  const objects = () => renderOverlay('prod');

  it('runs no datastore itself: Postgres, Redis and NATS are managed / operator-run', () => {
    expect(ofKind(objects(), 'StatefulSet')).toEqual([]);
  });

  it('reads the database and Redis URLs from Secrets it does not carry, each documented', () => {
    const docs = readText('docs/operations.md') + readText('infra/README.md');
    const externals = new Set<string>();
    for (const w of workloads(objects())) {
      for (const [, source] of containerEnv(objects(), onlyContainer(w))) {
        if (source.kind === 'external-secret') externals.add(`${source.secret}/${source.key}`);
      }
    }
    expect([...externals].sort()).toEqual(['tandem-database/DATABASE_URL', 'tandem-redis/REDIS_URL']);
    for (const e of externals) {
      const [secret, key] = e.split('/') as [string, string];
      expect(docs).toContain(secret);
      expect(docs).toContain(key);
    }
  });

  it('points NATS_URL at several cluster members and exposes the gateway through a LoadBalancer keeping client IPs', () => {
    const env = containerEnv(objects(), onlyContainer(named(objects(), 'Deployment', 'gateway')));
    expect(valueIn(env, 'NATS_URL').split(',').length).toBeGreaterThanOrEqual(3);
    const svc = named(objects(), 'Service', 'gateway');
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.externalTrafficPolicy).toBe('Local');
    expect(valueIn(env, 'TRUST_PROXY')).toBe('false');
  });

  it('runs at least three replicas of each service (the autoscaler minimum where it owns the count)', () => {
    expect(named(objects(), 'Deployment', 'device-registry').spec.replicas).toBeGreaterThanOrEqual(3);
    for (const name of ['gateway', 'delivery']) {
      expect(named(objects(), 'HorizontalPodAutoscaler', name).spec.minReplicas).toBeGreaterThanOrEqual(3);
    }
  });
});
