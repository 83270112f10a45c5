/** The YAML config the benchmark gives keywatch: N OpenRouter keys (or one account) on the simulator. */
import { parseConfig } from '../src/config/load.js';
import { benchKeyName, benchKeyValue, MANAGEMENT_KEY } from './keys.js';

export const WATCH_MODELS = ['openrouter/auto', 'openrouter/bodybuilder', 'openrouter/free'];

export interface BenchConfigOptions {
  simUrl: string;
  storePath: string;
  keys: number;
  intervalS: number;
  /** Requests per second the provider may receive (raised above the default 50 to fit the fleet). */
  maxRequestsPerSecond: number;
  concurrency?: number;
  /** Monitor the fleet through one account (fleet discovery) instead of listing each key. */
  account?: boolean;
  listen?: string;
}

export function benchConfigYaml(o: BenchConfigOptions): string {
  const lines = [
    'server:',
    `  listen: ${JSON.stringify(o.listen ?? '127.0.0.1:0')}`,
    'storage:',
    `  path: ${JSON.stringify(o.storePath)}`,
    'defaults:',
    `  interval: ${o.intervalS}s`,
    '  timeout: 10s',
    `  concurrency: ${o.concurrency ?? 16}`,
    // BENCH_ANALYSIS_INTERVAL: defaults.analysisInterval other than its default, to measure what it costs.
    ...(process.env.BENCH_ANALYSIS_INTERVAL ? [`  analysisInterval: ${process.env.BENCH_ANALYSIS_INTERVAL}`] : []),
    'providers:',
    '  openrouter:',
    `    baseUrl: ${JSON.stringify(o.simUrl)}`,
    `    maxRequestsPerSecond: ${o.maxRequestsPerSecond}`,
  ];
  if (o.account) {
    lines.push(
      'accounts:',
      '  - name: fleet',
      '    provider: openrouter',
      `    adminKey: ${JSON.stringify(MANAGEMENT_KEY)}`,
      `    watchModels: ${JSON.stringify(WATCH_MODELS)}`,
      'keys: []',
    );
    return `${lines.join('\n')}\n`;
  }
  lines.push('keys:');
  for (let i = 0; i < o.keys; i++) {
    lines.push(
      `  - name: ${benchKeyName(i)}`,
      '    provider: openrouter',
      `    key: ${benchKeyValue(i)}`,
      `    labels: { team: team-${i % 20} }`,
      `    watchModels: ${JSON.stringify(WATCH_MODELS)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** defaults.modelsInterval of the bench's daemon, in seconds, as the config it is given resolves it. */
export function benchModelsIntervalS(intervalS: number): number {
  const cfg = parseConfig(benchConfigYaml({ simUrl: 'http://127.0.0.1:1/api/v1', storePath: ':memory:', keys: 1, intervalS, maxRequestsPerSecond: 50 }));
  return cfg.keys[0]!.modelsIntervalMs! / 1000;
}
