/** `keywatch notify-test [--config FILE] [--notifier NAME]`: exit 0 when every notifier accepted the test message. */
import { parseArgs } from 'node:util';
import { sendTestNotifications } from '../alerting/test-message.js';
import { loadConfigFile } from '../config/load.js';
import { ConfigError, formatIssue } from '../errors.js';
import { configPath, writeLine, type Command } from './io.js';

const notifyTest: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, notifier: { type: 'string', short: 'n' } },
    allowPositionals: false,
  });
  const file = configPath(values.config, io.env);
  let config;
  try {
    config = loadConfigFile(file, { env: io.env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) writeLine(io.stderr, formatIssue(issue, file));
    return 1;
  }
  const names = config.raw.alerting.notifiers.map((n) => n.name);
  if (values.notifier !== undefined && !names.includes(values.notifier)) {
    writeLine(io.stderr, `keywatch notify-test: no notifier named "${values.notifier}" (configured: ${names.join(', ') || 'none'})`);
    return 1;
  }
  if (names.length === 0) {
    writeLine(io.stderr, `keywatch notify-test: ${file} has no alerting.notifiers`);
    return 1;
  }
  const results = await sendTestNotifications(config, values.notifier !== undefined ? { notifier: values.notifier } : {});
  for (const { notifier, type, result } of results) {
    const detail = result.ok ? `HTTP ${result.status}` : (result.error ?? 'failed');
    writeLine(io.stdout, `${result.ok ? 'ok  ' : 'FAIL'}  ${notifier} (${type}): ${detail}`);
  }
  const failed = results.filter((r) => !r.result.ok).length;
  writeLine(io.stdout, failed === 0 ? `test message delivered to ${results.length} notifier(s)` : `${failed} of ${results.length} notifier(s) failed`);
  return failed === 0 ? 0 : 1;
};
export default notifyTest;
