/** The bench side of the simulator process: fork it, wait for its URL, ask for its counters. */
import { forkChild } from './child.js';
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
  /** GET `url` `times` times, one after another; each scrape's duration, the body's size and series. */
  scrapeTimes(url: string, times: number): Promise<{ ms: number[]; bytes: number; series: number }>;
  close(): Promise<void>;
}

export async function forkSim(keys: number): Promise<SimProcess> {
  const script = fileURLToPath(new URL('./sim-process.js', import.meta.url));
  const { next, ask, close } = forkChild(script, 'simulator', { env: { ...process.env, BENCH_SIM_KEYS: String(keys) } });
  const ready = await next<{ url: string }>('ready');
  return {
    url: ready.url,
    stats: () => ask<SimStats>('stats', 'stats'),
    reset: async () => void (await ask('reset', 'reset')),
    scrape: (url, seconds) => ask<{ ms: number[]; bytes: number }>('scrape', 'scraped', { url, seconds }),
    scrapeTimes: (url, times) => ask<{ ms: number[]; bytes: number; series: number }>('scrape-times', 'scraped-times', { url, times }),
    close: () => close(5000),
  };
}
