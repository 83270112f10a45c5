#!/usr/bin/env -S node --single-threaded-gc
// The package's `keywatch` command: the compiled CLI (`npm run build` writes dist/). In a source checkout
// that has not been built yet, run the TypeScript directly through tsx (a dev dependency) instead.
// The `#!` line starts node with keywatch's node flags (src/runtime.ts NODE_FLAGS).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('keywatch: not built: run `npm run build` first\n');
    process.exit(3);
  }
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
