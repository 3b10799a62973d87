// Shared readers for the infra tests: the services' configuration schemas (the source of truth
// for which variables exist), the Compose file, the rendered Kustomize overlays and the root
// Dockerfile. Nothing here hard-codes a variable list: keys come from `Object.keys(schema.shape)`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { deliveryConfigSchema } from '../../apps/delivery/src/config.js';
import { registryConfigSchema } from '../../apps/device-registry/src/config.js';
import { gatewayConfigSchema } from '../../apps/gateway/src/config.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const infraDir = join(repoRoot, 'infra');
export const readText = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Services

export type ServiceName = 'gateway' | 'device-registry' | 'delivery';

export interface ServiceInfo {
  name: ServiceName;
  /** The package folder, relative to the repo. */
  dir: string;
  schema: z.ZodObject;
}

export const services: readonly ServiceInfo[] = [
  { name: 'gateway', dir: 'apps/gateway', schema: gatewayConfigSchema },
  { name: 'device-registry', dir: 'apps/device-registry', schema: registryConfigSchema },
  { name: 'delivery', dir: 'apps/delivery', schema: deliveryConfigSchema },
];

export const serviceByName = (name: ServiceName): ServiceInfo => {
  const found = services.find((s) => s.name === name);
  if (!found) throw new Error(`unknown service ${name}`);
  return found;
};

export const schemaKeys = (schema: z.ZodObject): string[] => Object.keys(schema.shape);

/** The value a variable takes when it is not set (undefined when it is required). */
export function defaultOf(schema: z.ZodObject, key: string): unknown {
  const field = (schema.shape as Record<string, z.ZodType>)[key];
  if (!field) throw new Error(`schema has no ${key}`);
  const parsed = field.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The variables the migration runner reads: the keys of the `z.object({...})` it hands to
 * loadConfig in apps/device-registry/src/db/migrate-cli.ts (not exported, so read from source).
 */
export function migrateKeys(): string[] {
  const source = readText('apps/device-registry/src/db/migrate-cli.ts');
  const match = /loadConfig\(\s*z\.object\(\{([\s\S]*?)\}\s*\)\s*\)/.exec(source);
  if (!match?.[1]) throw new Error('migrate-cli.ts: no loadConfig(z.object({...})) found');
  return [...match[1].matchAll(/\b([A-Z][A-Z0-9_]*)\s*:/g)].map((m) => m[1] as string);
}

export function packageJson(dir: string): {
  name: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
} {
  return JSON.parse(readText(join(dir, 'package.json')));
}

/** `npm run <script>` split into argv, e.g. "node dist/main.js" -> ["node", "dist/main.js"]. */
export function scriptArgv(dir: string, script: string): string[] {
  const command = packageJson(dir).scripts?.[script];
  if (!command) throw new Error(`${dir}/package.json has no "${script}" script`);
  return command.trim().split(/\s+/);
}

/** Workspace folders by package name (packages/*, apps/*). */
export function workspaceDirs(): Map<string, string> {
  const out = new Map<string, string>();
  for (const parent of ['packages', 'apps']) {
    for (const entry of readdirSync(join(repoRoot, parent))) {
      const dir = join(parent, entry);
      if (existsSync(join(repoRoot, dir, 'package.json'))) out.set(packageJson(dir).name, dir);
    }
  }
  return out;
}

/** Workspace packages a service needs at run time: its `dependencies`, transitively. */
export function runtimeWorkspaceDeps(dir: string): string[] {
  const dirs = workspaceDirs();
  const seen = new Set<string>();
  const visit = (d: string) => {
    for (const dep of Object.keys(packageJson(d).dependencies ?? {})) {
      const depDir = dirs.get(dep);
      if (depDir && !seen.has(depDir)) {
        seen.add(depDir);
        visit(depDir);
      }
    }
  };
  visit(dir);
  return [...seen].sort();
}

/**
 * Folders next to `src/` that a service reads at run time, found in its source as
 * `new URL('../../<folder>...', import.meta.url)` (delivery's Lua scripts, the registry's
 * migrations): the image must ship them beside dist/.
 */
export function runtimeAssetDirs(dir: string): string[] {
  const found = new Set<string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(join(repoRoot, d))) {
      const path = join(d, entry);
      if (entry === 'generated' || entry === 'gen') continue;
      if (statSync(join(repoRoot, path)).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readText(path);
        for (const m of text.matchAll(/new URL\(\s*['"]((?:\.\.\/)+)([\w-]+)[/'"]/g)) {
          // Resolve relative to the compiled file's folder (same depth as the source's).
          const up = (m[1] as string).split('/').length - 1;
          const fileDir = dirname(relative(join(dir, 'src'), path));
          const depth = fileDir === '.' ? 0 : fileDir.split('/').length;
          if (up === depth + 1) found.add(m[2] as string);
        }
      }
    }
  };
  walk(join(dir, 'src'));
  return [...found].sort();
}

// ---------------------------------------------------------------------------------------------
// Conditional tests: a check that cannot run here is reported as skipped, never passed.

export type TestFn = (name: string, fn: () => void | Promise<void>) => void;

export function itIf(condition: boolean, reason: string): TestFn {
  if (condition) return (name, fn) => it(name, fn);
  return (name, fn) => it.skip(`${name} [skipped: ${reason}]`, fn);
}

// ---------------------------------------------------------------------------------------------
// Compose

export type ComposeService = {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  restart?: string;
};

export function readCompose(): {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
} {
  return parse(readText('infra/compose.yaml'), { merge: true });
}

/** Variables of infra/.env.example (KEY=value lines). */
export function envExample(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readText('infra/.env.example').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Compose's interpolation: `${VAR:-default}`, `${VAR-default}`, `${VAR}`, `$$`. */
export function interpolate(value: string, vars: Record<string, string> = {}): string {
  return value
    .replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
      (_all, name: string, op?: string, def?: string) => {
        const v = vars[name];
        if (op === ':-') return v === undefined || v === '' ? (def ?? '') : v;
        if (op === '-') return v === undefined ? (def ?? '') : v;
        return v ?? '';
      },
    )
    .replace(/\$\$/g, '$');
}

/** Every `${VAR...}` a text refers to. */
export const interpolatedNames = (text: string): string[] => [
  ...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string)),
];

export function composeEnv(
  service: ComposeService,
  vars: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.environment ?? {})) out[k] = interpolate(String(v), vars);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are free-form; tests narrow them.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};

export const overlays = ['dev', 'prod'] as const;
export type Overlay = (typeof overlays)[number];

export const kubectlAvailable: boolean = (() => {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  return r.status === 0;
})();

const rendered = new Map<Overlay, K8sObject[]>();

/** `kubectl kustomize infra/k8s/overlays/<overlay>`, parsed. Offline: kustomize is built in. */
export function renderOverlay(overlay: Overlay): K8sObject[] {
  const cached = rendered.get(overlay);
  if (cached) return cached;
  const r = spawnSync('kubectl', ['kustomize', join(infraDir, 'k8s', 'overlays', overlay)], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`kubectl kustomize overlays/${overlay} failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) if (d.errors.length) throw new Error(`overlays/${overlay}: ${d.errors[0]?.message}`);
  const objects = docs.map((d) => d.toJS() as K8sObject).filter((o) => o);
  rendered.set(overlay, objects);
  return objects;
}

export const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

export function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name}`);
  return found;
}

/** Objects with a pod template (Deployments, StatefulSets, Jobs). */
export const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind));

export const appLabel = (o: K8sObject): string | undefined =>
  o.spec?.template?.metadata?.labels?.['app.kubernetes.io/name'];

// biome-ignore lint/suspicious/noExplicitAny: container specs are free-form.
export type Container = any;

export const containersOf = (o: K8sObject): Container[] => [
  ...(o.spec?.template?.spec?.initContainers ?? []),
  ...(o.spec?.template?.spec?.containers ?? []),
];

/** How one variable of a container is set. */
export type EnvSource =
  | { kind: 'value'; value: string; from: string }
  | { kind: 'external-secret'; secret: string; key: string };

/**
 * Resolves a container's environment the way the kubelet would: envFrom ConfigMaps/Secrets
 * first, then env (which wins). A secretKeyRef to a Secret that the overlay does not render is
 * reported as external (created out of band, e.g. in prod); a missing ConfigMap or key throws.
 */
export function containerEnv(objects: K8sObject[], container: Container): Map<string, EnvSource> {
  const out = new Map<string, EnvSource>();
  const dataOf = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> | undefined => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) return undefined;
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.data ?? {}))
      data[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    Object.assign(data, o.stringData ?? {});
    return data;
  };
  for (const ref of container.envFrom ?? []) {
    const kind = ref.configMapRef ? 'ConfigMap' : 'Secret';
    const name = (ref.configMapRef ?? ref.secretRef).name as string;
    const data = dataOf(kind, name);
    if (!data) throw new Error(`envFrom names a missing ${kind} ${name}`);
    for (const [k, v] of Object.entries(data))
      out.set(k, { kind: 'value', value: v, from: `${kind}/${name}` });
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      out.set(e.name, { kind: 'value', value: String(e.value), from: 'env' });
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const v = dataOf('ConfigMap', name)?.[key];
      if (v === undefined) throw new Error(`${e.name}: ConfigMap ${name} has no ${key}`);
      out.set(e.name, { kind: 'value', value: v, from: `ConfigMap/${name}` });
    } else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const data = dataOf('Secret', name);
      if (data === undefined) {
        out.set(e.name, { kind: 'external-secret', secret: name, key });
      } else {
        const v = data[key];
        if (v === undefined) throw new Error(`${e.name}: Secret ${name} has no ${key}`);
        out.set(e.name, { kind: 'value', value: v, from: `Secret/${name}` });
      }
    } else {
      throw new Error(`${e.name}: unsupported env source ${JSON.stringify(e.valueFrom)}`);
    }
  }
  return out;
}

/** A named or numbered container port, resolved to its number. */
export function resolvePort(container: Container, port: string | number): number {
  if (typeof port === 'number') return port;
  const found = (container.ports ?? []).find((p: { name?: string }) => p.name === port);
  if (!found) throw new Error(`container ${container.name} has no port named ${port}`);
  return found.containerPort;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/** Parses the root Dockerfile into stages (line continuations joined, comments dropped). */
export function readDockerfile(text = readText('Dockerfile')): {
  args: Record<string, string>;
  stages: Stage[];
} {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split('\n');
  let buffer = '';
  let startLine = 0;
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!buffer && (line === '' || line.startsWith('#'))) return;
    if (buffer && line.startsWith('#')) return;
    if (!buffer) startLine = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1).trim()} `;
      return;
    }
    const full = (buffer + line).trim();
    buffer = '';
    const m = /^(\w+)\s*(.*)$/s.exec(full);
    if (!m) return;
    const keyword = (m[1] as string).toUpperCase();
    const rest = m[2] as string;
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) throw new Error(`Dockerfile:${startLine}: cannot parse FROM ${rest}`);
      stages.push({ name: from[2], from: from[1] as string, instructions: [] });
      return;
    }
    const current = stages.at(-1);
    if (!current) {
      if (keyword === 'ARG') {
        const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest);
        if (a) args[a[1] as string] = a[2] ?? '';
      }
      return;
    }
    current.instructions.push({ keyword, args: rest, line: startLine });
  });
  return { args, stages };
}

export function stage(dockerfile: { stages: Stage[] }, name: string): Stage {
  const found = dockerfile.stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage ${name}`);
  return found;
}

/** The instructions of a stage including those it inherits from its parent stages. */
export function effective(dockerfile: { stages: Stage[] }, name: string, keyword: string): Instruction[] {
  const out: Instruction[] = [];
  let current: Stage | undefined = stage(dockerfile, name);
  while (current) {
    out.unshift(...current.instructions.filter((i) => i.keyword === keyword));
    const parent: string = current.from;
    current = dockerfile.stages.find((s) => s.name === parent);
  }
  return out;
}

/** The last instruction of a kind in effect for a stage (CMD, USER, WORKDIR, HEALTHCHECK). */
export const lastEffective = (dockerfile: { stages: Stage[] }, name: string, keyword: string) =>
  effective(dockerfile, name, keyword).at(-1);

// ---------------------------------------------------------------------------------------------
// Images

/** Images built here: tandem/<target>, optionally behind a registry host/path. */
export function builtTarget(image: string): string | undefined {
  const m = /^(?:[^\s]+\/)?tandem\/([a-z0-9-]+):([\w.-]+)$/.exec(image);
  return m ? m[1] : undefined;
}

/** A third-party image with an explicit tag that is not `latest` (or a digest). */
export function isPinnedThirdParty(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const m = /^([a-z0-9./_-]+):([\w.-]+)$/.exec(image);
  return !!m && m[2] !== 'latest';
}

/** The data stores Tandem depends on, and the images that provide them. */
export const datastoreImages = /^(postgres|redis|nats):/;

export function allYamlFiles(dir = infraDir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...allYamlFiles(path));
    else if (/\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}
