/**
 * The one registry of provider adapters. Adding a provider = its folder + one line here.
 * Only the wiring (cli, daemon) imports this file; the core receives the registry as a value.
 */
import type { ProviderAdapter, ProviderRegistry } from '../src/provider.js';
import { openrouter } from './openrouter/index.js';

const ADAPTERS: readonly ProviderAdapter[] = [openrouter];

export const registry: ProviderRegistry = new Map(ADAPTERS.map((a) => [a.id, a]));

export function providerIds(): string[] {
  return [...registry.keys()];
}
