import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { providerIds, registry } from '../providers/index.js';

const root = join(import.meta.dirname, '..', 'providers');
const folders = readdirSync(root).filter((f) => statSync(join(root, f)).isDirectory());

describe('providers/index.ts and the providers/ folders agree', () => {
  it('every folder is registered', () => {
    const missing = folders.filter((f) => !registry.has(f));

    expect(missing).toEqual([]);
  });

  it('every registered id is a folder', () => {
    const orphans = providerIds().filter((id) => !folders.includes(id));

    expect(orphans).toEqual([]);
  });

  it.each([...registry.entries()])('%s: id === registry key, folder has index.ts, sim.ts and its test', (key, adapter) => {
    expect(adapter.id).toBe(key);
    for (const file of ['index.ts', 'sim.ts', `${key}.test.ts`]) {
      expect(existsSync(join(root, key, file)), `providers/${key}/${file}`).toBe(true);
    }
  });

  it.each([...registry.values()])('$id: allowlist has only paths, base URL is https or empty (self-hosted)', (adapter) => {
    for (const p of adapter.allowedPaths) {
      if (typeof p === 'string') expect(p).toMatch(/^\/[A-Za-z0-9/_.-]*$/);
    }
    expect(adapter.defaultBaseUrl === '' || adapter.defaultBaseUrl.startsWith('https://')).toBe(true);
  });
});
