/**
 * The two pieces of undici the probes need, Agent and its header-name helper, loaded from the
 * package's own files rather than its index. The index loads all of undici (fetch, WebSocket,
 * caches, mocks, interceptors): 68-93 ms of a fresh process on this VM against 21-31 ms for these
 * files, ~3% of a 10,000-key start-up. Same module instances either way (one require cache), so an
 * Agent made here is undici's Agent. Should a future undici move these files, the index is loaded
 * instead: a slower start, the same behaviour (test/startup-imports.test.ts tells the two apart).
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

function load(): { Agent: typeof Undici.Agent; util: Pick<typeof Undici.util, 'headerNameToString'>; deep: boolean } {
  try {
    const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
    const util = require('undici/lib/core/util.js') as Pick<typeof Undici.util, 'headerNameToString'>;
    if (typeof Agent === 'function' && typeof util.headerNameToString === 'function') return { Agent, util, deep: true };
  } catch {
    // Moved or renamed: the index below.
  }
  const undici = require('undici') as typeof Undici;
  return { Agent: undici.Agent, util: undici.util, deep: false };
}

const loaded = load();
export const Agent = loaded.Agent;
export const undiciUtil = loaded.util;
/** Whether the files were found (false: undici's index was loaded instead). */
export const loadedFromFiles = loaded.deep;
