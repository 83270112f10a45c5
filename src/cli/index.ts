/** `keywatch <command>`: dispatches; each command lives in its own module and holds no shared logic. */
import { processIO, writeLine, type CliIO, type Command } from './io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ default: Command }> }> = {
  run: { summary: 'run the daemon [--config FILE]', load: () => import('./run.js') },
  demo: { summary: 'the daemon on a bundled demo config against simulated providers', load: () => import('./demo.js') },
  check: {
    summary: 'one-shot check of ONE key from $KEYWATCH_KEY or stdin [--provider ID|auto] [--base-url URL] [--json]',
    load: () => import('./check.js'),
  },
  validate: { summary: 'validate a config [--config FILE]', load: () => import('./validate.js') },
  report: { summary: 'state and trends from the store, without probing [--config FILE] [--key NAME] [--json]', load: () => import('./report.js') },
  schema: { summary: "print the config's JSON Schema", load: () => import('./schema.js') },
  'notify-test': { summary: 'send a marked test message [--config FILE] [--notifier NAME]', load: () => import('./notify-test.js') },
};

export async function runCli(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    writeLine(io.stdout, usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === 'version') {
    writeLine(io.stdout, '0.1.0');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    writeLine(io.stderr, `keywatch: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  const mod = await cmd.load();
  return mod.default(rest, io);
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return `usage: keywatch <command> [options]\n\ncommands:\n${lines.join('\n')}`;
}
