// Every file under infra/ parses, every image named anywhere is built here or pinned, and the
// operations guide states the ports the code serves.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import {
  allYamlFiles,
  builtTarget,
  datastoreImages,
  defaultOf,
  infraDir,
  interpolate,
  isPinnedThirdParty,
  readCompose,
  readDockerfile,
  readText,
  repoRoot,
  services,
} from './helpers.js';

/** TypeScript files under a folder of the repo (generated code left out). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(repoRoot, dir))) {
    const path = join(repoRoot, dir, entry);
    if (statSync(path).isDirectory()) {
      if (entry !== 'generated' && entry !== 'gen') out.push(...sourceFiles(join(dir, entry)));
    } else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('infra files', () => {
  const files = allYamlFiles();

  it('finds the Compose file and the Kustomize trees', () => {
    const names = files.map((f) => relative(infraDir, f));
    expect(names).toEqual(
      expect.arrayContaining([
        'compose.yaml',
        'k8s/base/kustomization.yaml',
        'k8s/overlays/dev/kustomization.yaml',
        'k8s/overlays/prod/kustomization.yaml',
      ]),
    );
  });

  it.each(files.map((f) => [relative(infraDir, f), f]))('%s parses as YAML', (_name, path) => {
    const docs = parseAllDocuments(readFileSync(path as string, 'utf8'), { merge: true });
    expect(docs.length).toBeGreaterThan(0);
    expect(docs.flatMap((d) => d.errors.map((e) => e.message))).toEqual([]);
    expect(docs.flatMap((d) => d.warnings.map((e) => e.message))).toEqual([]);
  });

  it('names in Compose only images built by a Dockerfile target or pinned datastore images', () => {
    const targets = readDockerfile().stages.map((s) => s.name);
    for (const [name, s] of Object.entries(readCompose().services)) {
      const image = interpolate(s.image ?? '');
      const target = builtTarget(image);
      if (target) {
        expect({ name, target: targets.includes(target) }).toEqual({ name, target: true });
        expect(s.build?.target).toBe(target);
      } else {
        expect(image).toMatch(datastoreImages);
        expect({ name, pinned: isPinnedThirdParty(image) }).toEqual({ name, pinned: true });
      }
    }
  });

  it('uses the same datastore images in Compose and the dev overlay', () => {
    const composeImages = Object.values(readCompose().services)
      .map((s) => s.image ?? '')
      .filter((i) => datastoreImages.test(i))
      .sort();
    const devImages = ['postgres', 'redis', 'nats']
      .map((n) => /image:\s*(\S+)/.exec(readText(`infra/k8s/overlays/dev/${n}.yaml`))?.[1])
      .sort();
    expect(devImages).toEqual(composeImages);
  });
});

describe('docs/operations.md and infra/README.md', () => {
  const ops = readText('docs/operations.md');
  const readme = readText('infra/README.md');

  it.each(services.map((s) => [s.name, s]))('state the ports %s serves', (_name, s) => {
    const info = s as (typeof services)[number];
    expect(ops).toContain(String(defaultOf(info.schema, 'OPS_PORT')));
    if ('PORT' in info.schema.shape) expect(ops).toContain(String(defaultOf(info.schema, 'PORT')));
  });

  it('name the WebSocket path the gateway serves', () => {
    const wsPath = /WS_PATH\s*=\s*'([^']+)'/.exec(readText('apps/gateway/src/connections.gateway.ts'))?.[1];
    expect(wsPath).toBeDefined();
    expect(ops).toContain(wsPath as string);
    expect(readme).toContain(wsPath as string);
  });

  it('name only metrics the services define', () => {
    const sources = services
      .flatMap((s) => sourceFiles(`${s.dir}/src`))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const named = [...ops.matchAll(/`((?:gateway|registry|delivery)_[a-z_]+)`/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((n) => !sources.includes(`'${n}'`))).toEqual([]);
  });

  it('cover what the issue asks: resources, scaling, backups, monitoring, upgrade and rollback, what ran here', () => {
    for (const heading of [
      /^## .*component/im,
      /^## .*scal/im,
      /^## .*back.?up/im,
      /^## .*monitor/im,
      /^## .*upgrade/im,
      /^## .*rollback/im,
      /^## .*executed/im,
    ]) {
      expect(ops).toMatch(heading);
    }
  });
});
