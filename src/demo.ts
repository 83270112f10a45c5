/**
 * `keywatch demo`: a simulated OpenRouter on loopback, a local webhook receiver that prints every
 * alert, and the real daemon on config/demo.yaml. No key, no network, numbers within a minute.
 */
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAlerting } from './alerting/index.js';
import { analyzeKey } from './analysis/index.js';
import { startDaemon, type Daemon } from './daemon.js';
import { DEMO_KEYS, DEMO_LIMIT_RAISE_AFTER_MS, DEMO_NEAR_LIMIT_KEY } from './demo-fixtures.js';
import { makeIdentify } from './identity.js';
import type { Logger } from './log.js';
import { registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

export interface DemoOptions {
  listen: string;
  /** SQLite file for the demo's store. */
  dbPath: string;
  log: Logger;
  /** Where alert lines and the summary go. */
  out: NodeJS.WritableStream;
  /** Print a key summary this often (0 = never). */
  summaryEveryMs?: number;
  handleSignals?: boolean;
}

export interface Demo {
  daemon: Daemon;
  sim: OpenRouterSim;
  hookUrl: string;
  stop(): Promise<void>;
}

const HOOK_SECRET = 'demo-signing-secret';

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const sim = await startOpenRouterSim({ keys: DEMO_KEYS.map((k) => ({ ...k })), totalCredits: 250 });
  const hook = await startReceiver(opts.out);
  const env = {
    ...process.env,
    KEYWATCH_DEMO_URL: sim.url,
    KEYWATCH_DEMO_HOOK: hook.url,
    KEYWATCH_DEMO_LISTEN: opts.listen,
    KEYWATCH_DEMO_DB: opts.dbPath,
  };
  let daemon: Daemon;
  try {
    daemon = await startDaemon({
      configFile: demoConfigPath(),
      env,
      registry,
      log: opts.log,
      identify: makeIdentify(registry),
      analyze: analyzeKey,
      alerting: createAlerting,
      handleSignals: opts.handleSignals ?? false,
      watchConfig: false,
    });
  } catch (err) {
    await Promise.all([sim.close(), hook.close()]);
    throw err;
  }
  // An operator raises the near-limit key's limit after a while: the alert resolves.
  const raise = setTimeout(() => sim.setKey(DEMO_NEAR_LIMIT_KEY, { limit: 60 }), DEMO_LIMIT_RAISE_AFTER_MS);
  raise.unref();
  const every = opts.summaryEveryMs ?? 0;
  const summary = every > 0 ? setInterval(() => opts.out.write(summarize(daemon)), every) : undefined;
  summary?.unref();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearTimeout(raise);
      if (summary) clearInterval(summary);
      await daemon.stop();
      await Promise.all([sim.close(), hook.close()]);
    })());
  void daemon.stopped.then(stop);
  return { daemon, sim, hookUrl: hook.url, stop };
}

/** config/demo.yaml, found from this module whether it runs from src/ (tsx) or dist/src/. */
export function demoConfigPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'config', 'demo.yaml');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('config/demo.yaml not found next to the package');
}

interface Receiver {
  url: string;
  close(): Promise<void>;
}

/** Prints each webhook notification as one line, after checking its signature. */
async function startReceiver(out: NodeJS.WritableStream): Promise<Receiver> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = `sha256=${createHmac('sha256', HOOK_SECRET).update(body).digest('hex')}`;
      const signed = req.headers['x-keywatch-signature'] === expected ? 'signed' : 'UNSIGNED';
      try {
        const a = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        const state = String(a.status ?? '?').toUpperCase();
        out.write(`[alert ${signed}] ${state.padEnd(8)} ${String(a.rule)} ${String(a.key)} (${String(a.severity)}): ${String(a.summary ?? '')}\n`);
      } catch {
        out.write(`[alert] unreadable notification (${body.length} bytes)\n`);
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function summarize(daemon: Daemon): string {
  const rows = [...daemon.states.values()].sort((a, b) => a.name.localeCompare(b.name));
  const lines = rows.map((s) => {
    const f = s.facts;
    const a = daemon.analysis(s.name);
    const money = (v: number | null | undefined) => (v === undefined ? '-' : v === null ? 'unlimited' : `$${v.toFixed(2)}`);
    const burn = a?.burnRates.find((b) => b.window === '1h');
    const runway = a?.exhaustion.seconds;
    return [
      s.name.padEnd(24),
      (f.valid === false ? 'INVALID' : f.valid ? 'valid' : '?').padEnd(8),
      `used ${money(f.usage?.total)}`.padEnd(16),
      `left ${money(f.limit === null ? null : f.limitRemaining)}`.padEnd(18),
      `burn ${burn ? `$${burn.perHour.toFixed(2)}/h` : '-'}`.padEnd(16),
      `runway ${runway === undefined ? '-' : `${Math.round(runway / 60)}m`}`.padEnd(14),
      a?.readiness.verdict ?? '-',
    ].join(' ');
  });
  return `\n${new Date().toISOString()} keys:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}
