/**
 * The demo's simulated keys. They match config/demo.yaml: one steady production key with a management
 * key for the balance, one near its limit (raised after a while, so the alert also resolves), one
 * unlimited, one revoked, one flaky, and a team of keys found only through the management key.
 */
import type { SimKey } from '../providers/openrouter/sim.js';

export const DEMO_MANAGEMENT_KEY = 'sk-or-v1-demo-management-key-0000000000000000000000000000000000000000';
export const DEMO_NEAR_LIMIT_KEY = 'sk-or-v1-demo-batch-near-limit-00000000000000000000000000000000000000000000';

export const DEMO_KEYS: SimKey[] = [
  { key: DEMO_MANAGEMENT_KEY, management: true },
  {
    key: 'sk-or-v1-demo-prod-main-00000000000000000000000000000000000000000000000000',
    limit: 100,
    limitReset: 'monthly',
    usage: 37,
    usagePerHour: 6,
    listed: false,
  },
  // 2.5 USD left of 20 at 12 USD/h: about 12 minutes of runway, below the 20% alert line.
  { key: DEMO_NEAR_LIMIT_KEY, limit: 20, limitReset: null, usage: 17.5, usagePerHour: 12, listed: false },
  { key: 'sk-or-v1-demo-research-unlimited-000000000000000000000000000000000000000000', limit: null, usage: 120, usagePerHour: 3, listed: false },
  { key: 'sk-or-v1-demo-old-revoked-0000000000000000000000000000000000000000000000000', revoked: true, listed: false },
  {
    key: 'sk-or-v1-demo-edge-flaky-00000000000000000000000000000000000000000000000000',
    limit: 50,
    limitReset: 'monthly',
    usage: 10,
    usagePerHour: 0.5,
    fault: 'flaky',
    flakyEvery: 4,
    listed: false,
  },
  { key: 'sk-or-v1-demo-team-mobile-000000000000000000000000000000000000000000000000', name: 'Mobile App', limit: 25, limitReset: 'weekly', usage: 3, usagePerHour: 1.5 },
  { key: 'sk-or-v1-demo-team-pipeline-0000000000000000000000000000000000000000000000', name: 'Data Pipeline', limit: null, usage: 48, usagePerHour: 4 },
  { key: 'sk-or-v1-demo-team-sandbox-00000000000000000000000000000000000000000000000', name: 'Intern Sandbox', limit: 5, usage: 5, disabled: true },
];

/** After this long the near-limit key's limit is raised (as an operator would), so its alert resolves. */
export const DEMO_LIMIT_RAISE_AFTER_MS = 90_000;
