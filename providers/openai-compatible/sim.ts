/**
 * A simulated generic OpenAI-compatible server (vLLM/LiteLLM style) at `<url>/v1`: an
 * OpenAI-shaped /models and OpenAI-shaped errors. Scenarios: valid, invalid (401), restricted
 * (403), quota (429 insufficient_quota), rate_limited, upstream, hang, malformed.
 */
import { bearerOf, openAiModelList, startSim, type ProviderSim, type SimOptions } from './sim-kit.js';

const err = (message: string, type: string, code: string | null) => ({ error: { message, type, param: null, code } });

export function startOpenAiCompatibleSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 401, body: err('Invalid API key', 'invalid_request_error', 'invalid_api_key') },
      rateLimited: {
        status: 429,
        headers: { 'retry-after': '4', 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '4s' },
        body: err('Rate limit exceeded', 'rate_limit_error', 'rate_limit_exceeded'),
      },
      routes: {
        '/v1/models': (_req, s) => {
          if (s.scenario === 'restricted') return { status: 403, body: err('Key not allowed to list models', 'permission_error', null) };
          if (s.scenario === 'quota') return { status: 429, body: err('You exceeded your current quota', 'insufficient_quota', 'insufficient_quota') };
          return {
            status: 200,
            headers: { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-requests': '1s' },
            body: openAiModelList(['meta-llama/Llama-3.1-8B-Instruct', 'Qwen/Qwen2.5-7B-Instruct'], 'vllm'),
          };
        },
      },
    },
    { key: 'sk-local-test-000000000000', ...opts },
  );
}
