import type { KeyState } from '../../src/state.js';

/** A KeyState for tests: an OpenRouter key with nothing known yet, overridden as needed. */
export function keyState(name: string, over: Partial<KeyState> = {}): KeyState {
  return {
    name,
    claimedProvider: 'openrouter',
    provider: 'openrouter',
    labels: {},
    watchModels: [],
    fingerprint: 'abcd1234',
    masked: 'sk-or-v1-…a1b2',
    facts: {},
    probes: {},
    lastSuccessAt: {},
    consecutiveFailures: 0,
    ...over,
  };
}
