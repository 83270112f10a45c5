/**
 * one-api (songquanpeng/one-api), an OpenAI-compatible gateway. Facts: ../shared/reference/providers.md §9.
 */
import type { ProviderAdapter } from '../../src/provider.js';
import { GATEWAY_PATHS, gatewayBilling, gatewayModels } from './gateway.js';

export const oneApi = {
  id: 'one-api',
  displayName: 'one-api gateway',
  // Self-hosted: there is no default host; a key must set baseUrl.
  defaultBaseUrl: '',
  // The site's display currency is USD unless the operator changed it.
  currency: 'USD',
  allowedPaths: GATEWAY_PATHS,
  identify: {
    headers: [{ name: 'x-oneapi-request-id', weight: 0.9 }],
  },
  probes: {
    current_key: gatewayModels,
    balance_snapshot: gatewayBilling,
  },
} satisfies ProviderAdapter;
