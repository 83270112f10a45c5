/**
 * Two builds of keywatch measured at the same time: `node dist/bench/ab.js --old DIR [--new DIR]
 * [--rounds 3] [--old-env K=V] [--new-env K=V] [-- bench args]`. Each round starts the benchmark
 * (dist/bench/run.js, one fleet, its own simulator and daemon processes) from both checkouts at once
 * and waits for both; then it prints each round's pair and the mean of the differences. The env
 * options, repeatable, set variables for one arm only: `--new-env KEYWATCH_HEAP=fast` with `--old`
 * the same build measures a setting against the default at once.
 *
 * Why at once: this VM's speed moves by 15-20% from one minute to the next, so a change worth a few
 * percent was lost between windows run one after the other (three alternated rounds still could not
 * tell it). Run together, both arms see the same minute; they also share two cores, so each is a
 * little slower than alone, the same for both. Both arms must be built (`npx tsc -p
 * tsconfig.build.json` in each checkout; `git worktree add DIR REV` makes the old one).
 *
 * The two arms are not quite alike: the one in the second slot (started second, its own temporary
 * directory) came out ~0.008 ms a run lower than its build deserved (a crossover in session 22; an
 * A/A run in session 21 leaned the same way). By default every other round swaps the slots, so a
 * build runs in each slot as often (with an even number of rounds) and the lean cancels in the mean;
 * `--no-crossover` keeps old in the first slot throughout.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** What ab compares of one arm's run (from run.ts's JSON, its first fleet). */
export interface ArmRun {
  cpuMsPerRun: number;
  mainS: number;
  workersS: number;
  peakRssMb: number;
  latenessMaxMs: number;
}

export interface AbSummary {
  rounds: { old: ArmRun; new: ArmRun }[];
  /** Mean of new - old per measure, and in how many rounds new was lower. */
  meanDelta: ArmRun;
  newLower: Record<keyof ArmRun, number>;
}

const MEASURES = ['cpuMsPerRun', 'mainS', 'workersS', 'peakRssMb', 'latenessMaxMs'] as const satisfies readonly (keyof ArmRun)[];

/** The measures of run.ts's JSON: CPU of the main thread and of V8's worker threads ("node"), all other threads ignored. */
export function armRun(json: unknown): ArmRun {
  const f = (json as { fleets?: Record<string, unknown>[] }).fleets?.[0];
  if (f === undefined) throw new Error('no fleet in the benchmark JSON');
  const threads = (f.cpuByThread ?? {}) as Record<string, number>;
  const lateness = (f.lateness ?? {}) as { maxMs?: number };
  return {
    cpuMsPerRun: Number(f.cpuMsPerRun),
    mainS: threads.main ?? 0,
    workersS: threads.node ?? 0,
    peakRssMb: Number(f.steadyPeakRssMb),
    latenessMaxMs: lateness.maxMs ?? 0,
  };
}

export function summarize(rounds: { old: ArmRun; new: ArmRun }[]): AbSummary {
  const meanDelta = {} as ArmRun;
  const newLower = {} as Record<keyof ArmRun, number>;
  for (const m of MEASURES) {
    const deltas = rounds.map((r) => r.new[m] - r.old[m]);
    meanDelta[m] = deltas.length === 0 ? 0 : Math.round((deltas.reduce((a, b) => a + b, 0) / deltas.length) * 1000) / 1000;
    newLower[m] = deltas.filter((d) => d < 0).length;
  }
  return { rounds, meanDelta, newLower };
}

export function formatSummary(s: AbSummary): string {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const lines = [
    row(['round', 'arm', 'CPU ms per run', 'main s/min', 'V8 workers s/min', 'RSS MB', 'lateness max ms']),
    row(['---:', '---', '---:', '---:', '---:', '---:', '---:']),
  ];
  s.rounds.forEach((r, i) => {
    for (const arm of ['old', 'new'] as const) lines.push(row([i + 1, arm, ...MEASURES.map((m) => r[arm][m])]));
  });
  lines.push(row(['mean', 'new - old', ...MEASURES.map((m) => s.meanDelta[m])]));
  lines.push(row(['', 'rounds new lower', ...MEASURES.map((m) => `${s.newLower[m]}/${s.rounds.length}`)]));
  return lines.join('\n');
}

/**
 * Which build runs in which slot in round `round` (0-based): old first on even rounds, and on odd
 * rounds, with crossover, new first. A slot is the order the arms start in and its own temporary
 * directory.
 */
export function slotsOf(round: number, crossover: boolean): readonly ['old' | 'new', 'old' | 'new'] {
  return crossover && round % 2 === 1 ? ['new', 'old'] : ['old', 'new'];
}

async function runArm(slot: 'first' | 'second', dir: string, args: string[], json: string, env: Record<string, string> = {}): Promise<ArmRun> {
  // Each slot its own temporary directory, so its own cache of seeded stores: both arms found the
  // shared one stale (it is kept half an hour) at once, built it at once and one failed.
  const tmp = join(tmpdir(), `keywatch-ab-${slot}`);
  mkdirSync(tmp, { recursive: true });
  const child = spawn(process.execPath, [join(dir, 'dist/bench/run.js'), ...args, '--json', json], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env, TMPDIR: tmp },
  });
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  if (code !== 0) throw new Error(`the benchmark in ${dir} exited ${code}`);
  return armRun(JSON.parse(readFileSync(json, 'utf8')));
}

/** `K=V` options as an environment (a value may hold `=`). */
export function envOf(pairs: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`--old-env/--new-env take K=V (got ${JSON.stringify(p)})`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      old: { type: 'string' },
      new: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      'old-env': { type: 'string', multiple: true },
      'new-env': { type: 'string', multiple: true },
      'no-crossover': { type: 'boolean', default: false },
    },
  });
  if (values.old === undefined) throw new Error('--old DIR: a built checkout to compare with');
  const oldDir = resolve(values.old);
  const newDir = resolve(values.new ?? fileURLToPath(new URL('../..', import.meta.url)));
  const args = positionals.length > 0 ? positionals : ['--keys', '10000', '--seconds', '60', '--scrape-seconds', '2', '--skip', 'baseline,fleet,storage,startup'];
  const work = mkdtempSync(join(tmpdir(), 'keywatch-ab-'));
  const rounds: { old: ArmRun; new: ArmRun }[] = [];
  const arms = {
    old: { dir: oldDir, env: envOf(values['old-env']) },
    new: { dir: newDir, env: envOf(values['new-env']) },
  };
  for (let i = 0; i < Number(values.rounds); i++) {
    const slots = slotsOf(i, !values['no-crossover']);
    const [a, b] = await Promise.all(
      slots.map((arm, k) => runArm(k === 0 ? 'first' : 'second', arms[arm].dir, args, join(work, `${arm}-${i}.json`), arms[arm].env)),
    );
    const [o, n] = slots[0] === 'old' ? [a!, b!] : [b!, a!];
    rounds.push({ old: o, new: n });
    console.error(`[ab] round ${i + 1} (first slot: ${slots[0]}): old ${o.cpuMsPerRun} ms, new ${n.cpuMsPerRun} ms per key run`);
  }
  console.log(formatSummary(summarize(rounds)));
  console.log(`JSON: ${work}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
