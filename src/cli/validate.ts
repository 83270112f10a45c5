import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { ConfigError, formatIssue } from '../errors.js';
import { configPath, writeLine, type Command } from './io.js';
import { providerIds } from '../../providers/index.js';

const validate: Command = async (args, io) => {
  let values: { config?: string | undefined };
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false }));
  } catch (err) {
    // A usage mistake, not a crash: one line, exit 1 (as `run` does).
    writeLine(io.stderr, `keywatch validate: ${firstLine((err as Error).message)} (usage: keywatch validate [--config FILE])`);
    return 1;
  }
  const file = configPath(values.config, io.env);
  try {
    const cfg = loadConfigFile(file, { env: io.env, providers: providerIds() });
    writeLine(io.stdout, `${file}: ok (${cfg.keys.length} keys, ${cfg.accounts.length} accounts, ${cfg.raw.alerting.notifiers.length} notifiers)`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) writeLine(io.stderr, formatIssue(issue, file));
    writeLine(io.stderr, `${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} found`);
    return 1;
  }
};
export default validate;

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
