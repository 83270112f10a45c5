/**
 * The Dockerfile and docker-compose.yml, checked without a Docker engine: what a build would copy
 * exists and survives .dockerignore, the npm scripts it runs exist, the runtime is non-root with a
 * data volume and a /healthz healthcheck, and compose parses and mounts files that exist.
 * (/healthz actually answering is checked against a running daemon in prometheus-e2e.test.ts.)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from './helpers/ops.js';

interface Instruction {
  op: string;
  args: string;
  stage: string;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function dockerfile(): Instruction[] {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '');
  let stage = '';
  return logical.map((l) => {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(l)!;
    const ins = { op: m[1]!, args: m[2]!.trim(), stage };
    if (ins.op === 'FROM') {
      stage = /\bAS\s+(\S+)/i.exec(ins.args)?.[1] ?? ins.args;
      ins.stage = stage;
    }
    return ins;
  });
}

/** .dockerignore as a predicate (the subset of its syntax we use: names, globs, `!` exceptions). */
function dockerignored(): (path: string) => boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\//, '');
      const re = pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]');
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(path)) ignored = !r.negate;
    return ignored;
  };
}

const instructions = dockerfile();
const runtime = instructions.filter((i) => i.stage === instructions.filter((x) => x.op === 'FROM').at(-1)!.stage);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

describe('Dockerfile', () => {
  it('is multi-stage on a current Node LTS slim image', () => {
    const froms = instructions.filter((i) => i.op === 'FROM');
    const image = /^ARG NODE_IMAGE=(\S+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];

    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(image).toMatch(/^node:(2[2-9]|[3-9]\d)-(bookworm|trixie)-slim$/);
  });

  it('copies only sources that exist and that .dockerignore lets through', () => {
    const ignored = dockerignored();
    const copies = instructions.filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !/--from=/.test(i.args));

    expect(copies.length).toBeGreaterThan(3);
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}: missing`).toBe(true);
        expect(ignored(src.replace(/^\.\//, '').replace(/\/$/, '')), `COPY ${src}: excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('keeps secrets and local state out of the build context', () => {
    const ignored = dockerignored();

    for (const p of ['.env', '.env.local', 'data', 'data/keywatch.db', 'node_modules', '.git', 'x.db', 'x.db-wal']) {
      expect(ignored(p), p).toBe(true);
    }
    expect(ignored('src/main.ts')).toBe(false);
    expect(ignored('deploy/docker/keywatch.yaml')).toBe(false);
  });

  it('runs only npm scripts that exist, with npm ci from the lockfile', () => {
    const runs = instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    const scripts = runs.flatMap((r) => [...r.matchAll(/npm run (\S+)/g)].map((m) => m[1]!));

    expect(runs.some((r) => /npm ci\b/.test(r))).toBe(true);
    expect(scripts).toContain('build');
    for (const s of scripts) expect(pkg.scripts[s], `npm run ${s}`).toBeDefined();
    expect(existsSync(join(ROOT, 'package-lock.json'))).toBe(true);
  });

  it('builds to the file the package bin loads', () => {
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const bin = readFileSync(join(ROOT, pkg.bin.keywatch!), 'utf8');
    const copiedDirs = instructions.filter((i) => i.op === 'COPY' && i.stage === 'build').map((i) => i.args.split(/\s+/)[0]);

    expect(pkg.scripts.build).toContain('tsconfig.build.json');
    expect(bin).toContain("'../dist/src/main.js'");
    expect(existsSync(join(ROOT, 'src/main.ts'))).toBe(true);
    // Everything tsc compiles must be in the build stage.
    for (const dir of build.include) expect(copiedDirs, dir).toContain(dir);
  });

  it('runtime: production deps only, non-root, /data volume, healthcheck on /healthz, keywatch run', () => {
    const text = (op: string): string[] => runtime.filter((i) => i.op === op).map((i) => i.args);
    const healthcheck = text('HEALTHCHECK').join(' ');

    expect(instructions.some((i) => i.op === 'RUN' && /npm (prune --omit=dev|ci --omit=dev)/.test(i.args))).toBe(true);
    expect(text('COPY').some((a) => /--from=build .*\/app\/node_modules/.test(a))).toBe(true);
    expect(text('USER').at(-1)).toMatch(/^(node|\d{3,})$/);
    expect(text('VOLUME').join(' ')).toContain('/data');
    expect(text('EXPOSE')).toContain('9477');
    expect(healthcheck).toContain('/healthz');
    expect(healthcheck).toContain('fetch(');
    expect(healthcheck).not.toMatch(/curl|wget/);
    expect(JSON.parse(text('ENTRYPOINT').at(-1)!)).toEqual(['keywatch', 'run']);
    expect(statSync(join(ROOT, 'bin/keywatch.js')).isFile()).toBe(true);
  });

  it("the image's default config listens where the healthcheck looks and stores under /data", () => {
    const cfg = parse(readFileSync(join(ROOT, 'deploy/docker/keywatch.yaml'), 'utf8')) as {
      server: { listen: string };
      storage: { path: string };
    };
    const healthPort = /127\.0\.0\.1:(\d+)\/healthz/.exec(runtime.filter((i) => i.op === 'HEALTHCHECK').map((i) => i.args).join(' '))?.[1];

    expect(cfg.server.listen).toBe(`0.0.0.0:${healthPort}`);
    expect(cfg.storage.path.startsWith('/data/')).toBe(true);
  });
});

describe('docker-compose.yml', () => {
  type Service = {
    build?: string | { context: string };
    image?: string;
    volumes?: string[];
    command?: string[];
    entrypoint?: string[];
    depends_on?: string[];
    ports?: string[];
  };
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };

  it('runs keywatch, Prometheus, Grafana and Alertmanager', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'grafana', 'keywatch', 'prometheus']);
    expect(compose.services.keywatch?.build).toBe('.');
    for (const name of ['prometheus', 'grafana', 'alertmanager']) {
      expect(compose.services[name]?.image, name).toMatch(/:v?\d+\.\d+\.\d+$/);
    }
  });

  it('mounts only files that exist, and only named volumes it declares', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const [src] = v.split(':') as [string];
        if (src.startsWith('./')) expect(existsSync(join(ROOT, src)), `${name}: ${v}`).toBe(true);
        else expect(compose.volumes, `${name}: ${v}`).toHaveProperty(src);
      }
    }
  });

  it('publishes ports on loopback only', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const p of svc.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it("points Prometheus at keywatch's service and port, and at Alertmanager", () => {
    const prom = parse(readFileSync(join(ROOT, 'deploy/compose/prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };
    const keywatchPort = compose.services.keywatch!.ports![0]!.split(':').at(-1);

    expect(prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets))).toContain(`keywatch:${keywatchPort}`);
    expect(prom.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual(['alertmanager:9093']);
  });

  it('the demo override runs `keywatch demo` on all interfaces with its data in the volume', () => {
    const demo = parse(readFileSync(join(ROOT, 'deploy/compose/demo.yml'), 'utf8')) as { services: { keywatch: Service } };

    expect(demo.services.keywatch.entrypoint).toEqual(['keywatch', 'demo']);
    expect(demo.services.keywatch.command).toEqual(['--listen', '0.0.0.0:9477', '--data', '/data']);
  });
});
