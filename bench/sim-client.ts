/** The bench side of the simulator process: fork it, wait for its URL, ask for its counters. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SimStats {
  requests: number;
  byPath: Record<string, number>;
  perSecond: Record<string, number>;
  violations: number;
  cpuS: number;
}

export interface SimProcess {
  /** Base URL including /api/v1. */
  url: string;
  stats(): Promise<SimStats>;
  reset(): Promise<void>;
  /** GET `url` every second for `seconds`, from the simulator's process; each scrape's duration. */
  scrape(url: string, seconds: number): Promise<{ ms: number[]; bytes: number }>;
  close(): Promise<void>;
}

export async function forkSim(keys: number): Promise<SimProcess> {
  const script = fileURLToPath(new URL('./sim-process.js', import.meta.url));
  const child: ChildProcess = fork(script, [], {
    env: { ...process.env, BENCH_SIM_KEYS: String(keys) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMsg = (m: { type?: string }) => {
        if (m.type !== type) return;
        child.off('message', onMsg);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`simulator process exited (${code}) before "${type}"`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  const ready = await next<{ url: string }>('ready');
  return {
    url: ready.url,
    stats: async () => {
      const p = next<SimStats>('stats');
      child.send({ type: 'stats' });
      return p;
    },
    reset: async () => {
      const p = next<unknown>('reset');
      child.send({ type: 'reset' });
      await p;
    },
    scrape: async (url, seconds) => {
      const p = next<{ ms: number[]; bytes: number }>('scraped');
      child.send({ type: 'scrape', url, seconds });
      return p;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
