/**
 * Small measuring tools for the benchmark: this process's CPU over a window, peak RSS by sampling,
 * percentiles. Kept apart from run.ts so each phase reads the same way.
 */
import { readFileSync } from 'node:fs';

export interface CpuWindow {
  /** CPU seconds (user + system) this process used since start(). */
  stop(): { cpuS: number; wallS: number; userS: number; systemS: number };
}

export function cpuWindow(): CpuWindow {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop: () => {
      const d = process.cpuUsage(cpu0);
      return { cpuS: (d.user + d.system) / 1e6, wallS: (performance.now() - t0) / 1000, userS: d.user / 1e6, systemS: d.system / 1e6 };
    },
  };
}

/**
 * This process's peak resident set size, sampled with process.memoryUsage.rss() (a read of /proc:
 * every 50 ms it cost ~3.7 ms of CPU a second, so a measured process samples itself rarely and
 * leaves the fine sampling to another, see sampleRssOf). A sampler, not
 * process.resourceUsage().maxRSS, so a phase's peak is not the whole process's lifetime peak.
 */
export interface RssSampler {
  peakMb(): number;
  stop(): number;
  /** process.memoryUsage() at the moment of the RSS peak, in MB: where the memory was. */
  atPeak(): Record<string, number>;
}

export function sampleRss(everyMs = 100): RssSampler {
  let peak = process.memoryUsage.rss();
  let atPeak: NodeJS.MemoryUsage = process.memoryUsage();
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) {
      peak = rss;
      atPeak = process.memoryUsage();
    }
  }, everyMs);
  timer.unref();
  const mb = (): number => Math.round((Math.max(peak, process.memoryUsage.rss()) / 1048576) * 10) / 10;
  return {
    peakMb: mb,
    atPeak: () => Object.fromEntries(Object.entries(atPeak).map(([k, v]) => [k, Math.round(v / 1048576)])),
    stop: () => {
      clearInterval(timer);
      return mb();
    },
  };
}

/** Nearest-rank percentile of unsorted values (0 for none). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Another process's peak resident set size, sampled from /proc/<pid>/status (VmRSS) by this one, so
 * the sampling costs the measured process nothing (sampling itself every 50 ms, with
 * process.memoryUsage.rss(), cost it ~3.7 ms of CPU a second: 0.02 ms per key run at 10,000 keys,
 * 0.2 ms at 1,000). 0 off Linux.
 */
export function sampleRssOf(pid: number, everyMs = 50): { stop(): number } {
  let peakKb = 0;
  const sample = (): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m !== null) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // not Linux, or the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return Math.round((peakKb / 1024) * 10) / 10;
    },
  };
}
