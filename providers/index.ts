/**
 * The one registry of provider adapters. Adding a provider = its folder + one line here.
 * Only the wiring (cli, daemon) imports this file; the core receives the registry as a value.
 */
import type { ProviderAdapter, ProviderRegistry } from '../src/provider.js';
import { openrouter } from './openrouter/index.js';
import { openai } from './openai/index.js';
import { anthropic } from './anthropic/index.js';
import { deepseek } from './deepseek/index.js';
import { oneApi } from './one-api/index.js';
import { newApi } from './new-api/index.js';
import { xai } from './xai/index.js';
import { gemini } from './gemini/index.js';
import { openaiCompatible } from './openai-compatible/index.js';
import { moonshot } from './moonshot/index.js';
import { siliconflow } from './siliconflow/index.js';
import { groq } from './groq/index.js';
import { mistral } from './mistral/index.js';
import { together } from './together/index.js';

const ADAPTERS: readonly ProviderAdapter[] = [
  openrouter,
  openai,
  anthropic,
  deepseek,
  oneApi,
  newApi,
  xai,
  gemini,
  openaiCompatible,
  moonshot,
  siliconflow,
  groq,
  mistral,
  together,
];

export const registry: ProviderRegistry = new Map(ADAPTERS.map((a) => [a.id, a]));

export function providerIds(): string[] {
  return [...registry.keys()];
}
