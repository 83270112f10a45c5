/** A simulated new-api gateway: the one-api simulator in its new-api flavor (see ../one-api/sim.ts). */
import type { ProviderSim, SimOptions } from '../openai-compatible/sim-kit.js';
import { startGatewaySim } from '../one-api/sim.js';

export function startNewApiSim(opts: SimOptions & { unlimited?: boolean } = {}): Promise<ProviderSim> {
  return startGatewaySim({ ...opts, flavor: 'new-api' });
}
