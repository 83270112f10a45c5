#!/usr/bin/env -S node --single-threaded-gc
import { runCli } from './cli/index.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`keywatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 3;
  },
);
