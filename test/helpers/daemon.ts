/**
 * Starts a real daemon for a test: a config file and SQLite store in a temp dir, the server on
 * 127.0.0.1:0, the real provider registry. Runs are driven with `daemon.runOnce()` unless
 * `schedule: true`. Reuse `dir` to restart on the same store.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.js';
import { registry as realRegistry } from '../../providers/index.js';

export interface TestDaemonOptions extends Partial<Omit<DaemonOptions, 'configFile' | 'config' | 'env'>> {
  /** The config file's text. */
  yaml: string;
  env?: Record<string, string>;
  /** Reuse a directory (and so its store) from an earlier daemon. */
  dir?: string;
}

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  configFile: string;
  storePath: string;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; text: string; json: () => any }>;
  post(path: string, headers?: Record<string, string>): Promise<{ status: number; text: string; json: () => any }>;
  metricsText(): Promise<string>;
  writeConfig(yaml: string): void;
  /** Stops the daemon (keeps the directory). */
  stop(): Promise<void>;
  /** Stops the daemon and removes the directory. */
  cleanup(): Promise<void>;
}

export async function startTestDaemon(o: TestDaemonOptions): Promise<TestDaemon> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'kw-daemon-'));
  const configFile = join(dir, 'keywatch.yaml');
  const storePath = join(dir, 'keywatch.db');
  writeFileSync(configFile, o.yaml);
  const { yaml: _yaml, env, dir: _dir, ...rest } = o;
  const daemon = await startDaemon({
    registry: realRegistry,
    listen: '127.0.0.1:0',
    storePath,
    schedule: false,
    watchConfig: false,
    // Each key's first history figures live all of analysisInterval, as later ones do (tests count on it).
    random: () => 0,
    ...rest,
    configFile,
    env: { ...env },
  });
  const call = async (method: string, path: string, headers: Record<string, string> = {}) => {
    metricsFresh(daemon);
    const res = await fetch(daemon.url + path, { method, headers });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await daemon.stop();
  };
  return {
    daemon,
    dir,
    configFile,
    storePath,
    get: (path, headers) => call('GET', path, headers),
    post: (path, headers) => call('POST', path, headers),
    metricsText: async () => (await call('GET', '/metrics')).text,
    writeConfig: (yaml) => writeFileSync(configFile, yaml),
    stop,
    cleanup: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Tests read right after runOnce(): skip the render cache's second of staleness. */
function metricsFresh(daemon: Daemon): void {
  daemon.metrics.invalidate();
}

/** Parses Prometheus text into `name{labels}` -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
