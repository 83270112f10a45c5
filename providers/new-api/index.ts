/**
 * new-api (QuantumNous/new-api, a one-api fork): same wire format, told apart by its
 * `X-New-Api-Version` header and `supported_endpoint_types` on models. Facts: ../shared/reference/providers.md §9.
 */
import type { ProviderAdapter } from '../../src/provider.js';
import { GATEWAY_PATHS, gatewayBilling, gatewayModels } from '../one-api/gateway.js';

export const newApi = {
  id: 'new-api',
  displayName: 'new-api gateway',
  defaultBaseUrl: '',
  currency: 'USD',
  allowedPaths: GATEWAY_PATHS,
  identify: {
    headers: [
      { name: 'x-new-api-version', weight: 0.95 },
      { name: 'x-oneapi-request-id', weight: 0.5 },
    ],
  },
  probes: {
    current_key: gatewayModels,
    balance_snapshot: gatewayBilling,
  },
} satisfies ProviderAdapter;
