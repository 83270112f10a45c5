/**
 * Google Gemini (AI Studio): `GET /v1beta/models?key=...` is validity and the model matrix. The key
 * travels in the query (as a Secret: the client sends it and shows `key=REDACTED`). An invalid key
 * is HTTP 400 API_KEY_INVALID (not 401); 403 PERMISSION_DENIED is a key without Gemini access; 429
 * RESOURCE_EXHAUSTED carries its wait in RetryInfo.retryDelay, not in a header. No balance API.
 * Facts: ../shared/reference/providers.md "Google Gemini".
 */
import type { KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { parseGoDuration } from '../../src/http/ratelimit.js';
import { parseJson, type HttpResponse } from '../../src/http/client.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import { decode, get, modelAccess, throwTransient, unexpectedStatus } from '../openai-compatible/common.js';
import { GoogleError, ModelsPage } from './schema.js';

const PAGE_SIZE = 1000;
const MAX_PAGES = 5;

export const gemini = {
  id: 'gemini',
  displayName: 'Google Gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  currency: 'USD',
  allowedPaths: ['/models'],
  identify: {
    // Every Google API key looks like this; only a Gemini answer confirms it.
    keyPatterns: [{ pattern: /^AIza[\w-]{35}$/, weight: 0.8 }],
    hosts: ['generativelanguage.googleapis.com'],
  },
  probes: {
    current_key: models,
  },
} satisfies ProviderAdapter;

async function models(ctx: ProbeContext): Promise<KeyFacts> {
  const ids: string[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await get(ctx, '/models', { query: { key: ctx.key, pageSize: PAGE_SIZE, pageToken } });
    if (res.status !== 200) return refused(res, ctx);
    const body = decode(res, ModelsPage, 'GET /models');
    ids.push(...body.models.map((m) => m.name));
    pageToken = body.nextPageToken || undefined;
    if (pageToken === undefined) break;
  }
  return { valid: true, models: modelAccess(ids, ctx.watchModels, 'public') };
}

function refused(res: HttpResponse, ctx: ProbeContext): KeyFacts {
  const parsed = res.status >= 400 && res.status < 500 ? GoogleError.safeParse(safeJson(res)) : undefined;
  const err = parsed?.success ? parsed.data.error : undefined;
  const reasons = err?.details.map((d) => d.reason).filter((r): r is string => r !== undefined) ?? [];
  if (res.status === 400 && (reasons.includes('API_KEY_INVALID') || /api key not valid|api key expired/i.test(err?.message ?? ''))) {
    return { valid: false, validity: /expired/i.test(err?.message ?? '') ? 'expired' : 'revoked' };
  }
  if (res.status === 401) return { valid: false, validity: 'revoked' };
  if (res.status === 403) return { valid: false, validity: 'restricted' };
  if (res.status === 429) {
    const delay = err?.details.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'))?.retryDelay;
    const retryAfterMs = parseGoDuration(delay);
    throw new ProbeError('rate_limited', 'rate limited (HTTP 429 RESOURCE_EXHAUSTED)', {
      status: 429,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  throwTransient(res, ctx);
  throw unexpectedStatus(res, 'GET /models');
}

function safeJson(res: HttpResponse): unknown {
  try {
    return parseJson(res);
  } catch {
    return undefined;
  }
}
