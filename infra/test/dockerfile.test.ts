// The root Dockerfile has a target per service (and migrate), each holding what the service
// needs at run time and nothing to build with; its ports, healthchecks and commands agree with
// the services' configuration defaults and package scripts.
import { describe, expect, it } from '@jest/globals';
import {
  defaultOf,
  effective,
  isPinnedThirdParty,
  lastEffective,
  readDockerfile,
  readText,
  runtimeAssetDirs,
  runtimeWorkspaceDeps,
  type ServiceName,
  scriptArgv,
  serviceByName,
  services,
  stage,
} from './helpers.js';

const dockerfile = readDockerfile();
const targets = dockerfile.stages.map((s) => s.name).filter((n): n is string => !!n);

/** COPY instructions of a stage as { from, src, dest }. */
function copies(name: string) {
  return stage(dockerfile, name)
    .instructions.filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, src: paths.slice(0, -1), dest: paths.at(-1) as string };
    });
}

/** Exec-form JSON array of an instruction (CMD ["a", "b"]). */
const execForm = (args: string): string[] => JSON.parse(args);

describe('Dockerfile', () => {
  it('has a target per service and one for migrate', () => {
    expect(targets).toEqual(expect.arrayContaining([...services.map((s) => s.name), 'migrate']));
  });

  it('starts every stage from an earlier stage or a pinned image (no latest, ARG defaults resolved)', () => {
    const seen = new Set<string>();
    for (const s of dockerfile.stages) {
      const from = s.from.replace(/\$\{?(\w+)\}?/g, (_m, name: string) => dockerfile.args[name] ?? '');
      if (!seen.has(from)) expect(isPinnedThirdParty(from)).toBe(true);
      if (s.name) seen.add(s.name);
    }
  });

  it('builds with npm ci and turbo, then installs only production dependencies per service', () => {
    const runs = dockerfile.stages.flatMap((s) =>
      s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args),
    );
    expect(runs.some((r) => /npm ci\b(?!.*--omit=dev)/.test(r))).toBe(true);
    expect(runs.some((r) => /turbo run build/.test(r))).toBe(true);
    for (const { name } of services) {
      expect(
        runs.some(
          (r) =>
            r.includes('npm ci') && r.includes('--omit=dev') && r.includes(`--workspace=@tandem/${name}`),
        ),
      ).toBe(true);
    }
  });

  describe.each(services.map((s) => s.name))('target %s', (name: ServiceName) => {
    const info = serviceByName(name);
    const opsPort = defaultOf(info.schema, 'OPS_PORT') as number;

    it('runs the package start script from the package folder', () => {
      expect(execForm(lastEffective(dockerfile, name, 'CMD')?.args ?? '[]')).toEqual(
        scriptArgv(info.dir, 'start'),
      );
      expect(lastEffective(dockerfile, name, 'WORKDIR')?.args).toBe(`/app/${info.dir}`);
    });

    it('runs as a non-root user', () => {
      const user = lastEffective(dockerfile, name, 'USER')?.args;
      expect(user).toBeDefined();
      expect(['root', '0', '0:0']).not.toContain(user);
    });

    it('exposes the default OPS_PORT (and PORT for the gateway)', () => {
      const exposed = effective(dockerfile, name, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
      const expected = [opsPort];
      if ('PORT' in info.schema.shape) expected.push(defaultOf(info.schema, 'PORT') as number);
      expect(exposed.sort()).toEqual(expected.sort());
    });

    it('checks its health on /healthz of the default OPS_PORT', () => {
      const hc = lastEffective(dockerfile, name, 'HEALTHCHECK')?.args ?? '';
      const m = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(hc);
      expect(m?.[2]).toBe('/healthz');
      expect(Number(m?.[1])).toBe(opsPort);
    });

    it("holds its own dist and its workspace dependencies' dist and production node_modules, nothing else", () => {
      const own = copies(name);
      const fromBuild = own.filter((c) => c.from === 'build').flatMap((c) => c.src);
      const deps = runtimeWorkspaceDeps(info.dir);
      const expected = [...deps, info.dir].map((d) => `/repo/${d}/dist`);
      expect(fromBuild.filter((p) => p.endsWith('/dist')).sort()).toEqual(expected.sort());
      const fromProd = own.filter((c) => c.from === `prod-deps-${name}`).flatMap((c) => c.src);
      expect(fromProd.sort()).toEqual(
        ['/repo/node_modules', ...[...deps, info.dir].map((d) => `/repo/${d}`)].sort(),
      );
      // No stage with build tools is copied wholesale.
      expect(own.every((c) => c.from === 'build' || c.from === `prod-deps-${name}`)).toBe(true);
    });

    it('ships the folders the service reads at run time beside dist (Lua scripts, migrations)', () => {
      const fromBuild = copies(name)
        .filter((c) => c.from === 'build')
        .flatMap((c) => c.src);
      for (const asset of runtimeAssetDirs(info.dir))
        expect(fromBuild).toContain(`/repo/${info.dir}/${asset}`);
    });
  });

  it('finds the runtime folders the services read (so the check above checks something)', () => {
    expect(runtimeAssetDirs('apps/delivery')).toContain('lua');
    expect(runtimeAssetDirs('apps/device-registry')).toContain('prisma');
  });

  it('builds migrate from the registry image, running the runner of npm run migrate, without a healthcheck', () => {
    expect(stage(dockerfile, 'migrate').from).toBe('device-registry');
    expect(execForm(lastEffective(dockerfile, 'migrate', 'CMD')?.args ?? '[]')).toEqual(
      scriptArgv('apps/device-registry', 'migrate'),
    );
    expect(lastEffective(dockerfile, 'migrate', 'HEALTHCHECK')?.args).toBe('NONE');
  });

  it('keeps installed and generated files out of the build context', () => {
    const ignored = readText('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const pattern of ['**/node_modules', '**/dist', '.git', '**/src/gen', '**/src/generated', '.env']) {
      expect(ignored).toContain(pattern);
    }
  });
});
