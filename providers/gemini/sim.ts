/**
 * A simulated Gemini API on loopback (base URL `<url>/v1beta`), per fixtures/SOURCE.md. The key is
 * read from `?key=` (or `x-goog-api-key`). Scenarios: valid (two pages), invalid (400
 * API_KEY_INVALID), restricted (403), rate_limited (429 with RetryInfo, no header), upstream,
 * hang, malformed. There is no quota scenario: Gemini has no balance to run out of.
 */
import type { FakeRequest } from '../../src/sim/fake-server.js';
import { startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import invalid from './fixtures/error-400-invalid.json' with { type: 'json' };
import error403 from './fixtures/error-403.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import page2 from './fixtures/models-page2.json' with { type: 'json' };
import page1 from './fixtures/models.json' with { type: 'json' };

function keyOf(req: FakeRequest): string | undefined {
  const h = req.headers['x-goog-api-key'];
  return req.query.get('key') ?? (Array.isArray(h) ? h[0] : h);
}

export function startGeminiSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1beta',
      credential: keyOf,
      invalid: { status: 400, body: invalid },
      rateLimited: { status: 429, body: error429 },
      upstream: { status: 503, body: { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } } },
      routes: {
        '/v1beta/models': (req, s) => {
          if (s.scenario === 'restricted') return { status: 403, body: error403 };
          return { status: 200, body: req.query.get('pageToken') === 'page-2' ? page2 : page1 };
        },
      },
    },
    { key: `AIzaSy${'T'.repeat(33)}`, ...opts },
  );
}
