// Placeholder while the adapter is written (same commit series); replaced by the real adapter.
import type { ProviderAdapter } from '../../src/provider.js';

export const openrouter = {
  id: 'openrouter',
  displayName: 'OpenRouter',
  defaultBaseUrl: 'https://openrouter.ai/api/v1',
  currency: 'USD',
  allowedPaths: [],
  identify: {},
  probes: {},
} satisfies ProviderAdapter;
