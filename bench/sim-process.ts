/**
 * The OpenRouter simulator in its own process (forked by run.ts), so the CPU it spends answering is
 * not charged to keywatch. Speaks to the parent over IPC:
 *   parent -> { type: 'stats' }  child -> { type: 'stats', requests, byPath, cpuS }
 *   parent -> { type: 'reset' }  (zero the counters)       child -> { type: 'ready', url, keys }
 *   parent -> { type: 'scrape', url, seconds }  child -> { type: 'scraped', ms, bytes } (GET url every second)
 *   parent -> { type: 'scrape-times', url, times }  child -> { type: 'scraped-times', ms, bytes, series } (one after another)
 */
import { startOpenRouterSim } from '../providers/openrouter/sim.js';
import { benchSimKeys } from './keys.js';
import { scrapeOnce } from './scrape.js';

interface Counters {
  requests: number;
  byPath: Record<string, number>;
  /** Requests per whole second (epoch s -> count), for rate checks. */
  perSecond: Record<string, number>;
  /** Non-GET or unrouted requests (read-only check). */
  violations: number;
}

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_SIM_KEYS ?? '1000');
  // Recorded requests are drained into counters every 200 ms, so memory stays flat at any rate.
  const sim = await startOpenRouterSim({ keys: benchSimKeys(n), maxRecorded: 1_000_000 });
  let counters: Counters = { requests: 0, byPath: {}, perSecond: {}, violations: 0 };

  const drain = (): void => {
    for (const r of sim.server.requests) {
      counters.requests++;
      counters.byPath[r.path] = (counters.byPath[r.path] ?? 0) + 1;
      const s = String(Math.floor(r.at / 1000));
      counters.perSecond[s] = (counters.perSecond[s] ?? 0) + 1;
    }
    counters.violations += sim.server.violations.length;
    sim.server.reset();
  };
  setInterval(drain, 200).unref();

  process.on('message', (msg: { type?: string; url?: string; seconds?: number }) => {
    if (msg.type === 'scrape') {
      // Prometheus' side of a scrape lives here, not in keywatch's process: reading 10+ MB per
      // second is the scraper's CPU and memory, not keywatch's.
      void scrape(msg.url as string, msg.seconds as number).then((r) => process.send?.({ type: 'scraped', ...r }));
    } else if (msg.type === 'scrape-times') {
      void scrapeTimes(msg.url as string, (msg as { times?: number }).times ?? 5).then((r) => process.send?.({ type: 'scraped-times', ...r }));
    } else if (msg.type === 'stats') {
      drain();
      const cpu = process.cpuUsage();
      process.send?.({ type: 'stats', ...counters, cpuS: (cpu.user + cpu.system) / 1e6 });
    } else if (msg.type === 'reset') {
      drain();
      counters = { requests: 0, byPath: {}, perSecond: {}, violations: 0 };
      process.send?.({ type: 'reset' });
    }
  });
  process.on('disconnect', () => {
    void sim.close().finally(() => process.exit(0));
  });
  process.send?.({ type: 'ready', url: sim.url, keys: n });
}

async function scrape(url: string, seconds: number): Promise<{ ms: number[]; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    const r = await scrapeOnce(url);
    bytes = r.bytes;
    ms.push(r.ms);
    await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (performance.now() - t0))));
  }
  return { ms, bytes };
}

/**
 * `times` scrapes one after another (what a scrape costs keywatch, as Prometheus gets it: the
 * whole body over HTTP), each one's duration; the last body's size and series (lines that are not
 * comments).
 */
async function scrapeTimes(url: string, times: number): Promise<{ ms: number[]; bytes: number; series: number }> {
  const ms: number[] = [];
  let body: Buffer = Buffer.alloc(0);
  for (let i = 0; i < times; i++) {
    const r = await scrapeOnce(url);
    body = r.body();
    ms.push(r.ms);
  }
  let series = 0;
  for (let i = 0; i < body.length; i = body.indexOf(10, i) + 1 || body.length) if (body[i] !== 35 && body[i] !== 10) series++;
  return { ms, bytes: body.length, series };
}

void main();
