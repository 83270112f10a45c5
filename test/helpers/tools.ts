/**
 * Tests that need a Debian package binary (promtool, prometheus, prometheus-alertmanager) skip with a
 * visible reason when it is missing, unless KEYWATCH_REQUIRE_TOOLS=1, which turns the skip into a failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function findTool(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/bin']) {
    const p = `${dir}/${name}`;
    if (existsSync(p)) return p;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns the tool's path, or undefined after printing why the test will be skipped.
 * Throws when KEYWATCH_REQUIRE_TOOLS=1 and the tool is missing.
 */
export function requireTool(name: string, pkg: string): string | undefined {
  const path = findTool(name);
  if (path !== undefined) return path;
  const reason = `${name} not found (apt-get install -y ${pkg})`;
  if (process.env.KEYWATCH_REQUIRE_TOOLS === '1') {
    throw new Error(`KEYWATCH_REQUIRE_TOOLS=1 but ${reason}`);
  }
  process.stderr.write(`SKIP: ${reason}\n`);
  return undefined;
}
