/**
 * The alert state machine, driven through createAlerting with KeyStates and an injected clock:
 * each row of a table is one probe run; we check the phase and what was queued for the notifier.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { config, harness, keyState, analysis, queued, T0, type Harness, type StateInput } from './fixtures/alerting/harness.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function yaml(alerting: string, keyExtra = ''): string {
  return `
keys:
  - name: prod-main
    provider: openrouter
    key: \${TEST_KEY}
    labels: { team: search }
${keyExtra}
alerting:
  notifiers:
    - { name: hook, type: webhook, url: "${receiver.url}/hook" }
${alerting}
`;
}

interface Run {
  /** Minutes after T0. */
  at: number;
  state: StateInput;
  /** Expected phase of the rule under test after this run. */
  phase: 'inactive' | 'pending' | 'firing' | 'resolved';
  /** Expected notifications queued by this run. */
  sent: string[];
}

function play(hh: Harness, rule: string, runs: Run[]): void {
  for (const run of runs) {
    const before = queued(hh.alerting).length;
    hh.clock.now = T0 + run.at * MIN;

    hh.alerting.evaluate(keyState(run.state), hh.clock.now);

    const phase = phaseOf(hh, rule);
    expect({ at: run.at, phase, sent: queued(hh.alerting).slice(before) }).toEqual({ at: run.at, phase: run.phase, sent: run.sent });
  }
}

function phaseOf(hh: Harness, rule: string): string {
  const firing = hh.alerting.firing().some((a) => a.rule === rule);
  if (firing) return 'firing';
  const row = hh.db.prepare('SELECT phase FROM alert_state WHERE key = ? AND rule = ?').get('prod-main', rule) as { phase: string } | undefined;
  return row?.phase ?? 'inactive';
}

const remaining = (n: number): StateInput => ({ facts: { limit: 100, limitRemaining: n } });

describe('for: the condition must hold for the whole duration', () => {
  it.each<{ name: string; runs: Run[] }>([
    {
      name: 'held for 10m fires at 10m, not before',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: remaining(4), phase: 'pending', sent: [] },
        { at: 10, state: remaining(3), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'one good run in between starts the clock over',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: remaining(40), phase: 'inactive', sent: [] },
        { at: 10, state: remaining(4), phase: 'pending', sent: [] },
        { at: 15, state: remaining(4), phase: 'pending', sent: [] },
        { at: 20, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'an unknown value (failed probe) neither confirms nor cancels',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: { facts: { limit: 100, limitRemaining: undefined } }, phase: 'pending', sent: [] },
        { at: 10, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
  ])('$name', ({ runs }) => {
    h = harness(config(yaml('  for: 10m\n  thresholds: { limitRemainingBelow: 5 }')));

    play(h, 'limit_remaining_low', runs);
  });
});

describe('forProbes: the condition must hold for N consecutive evaluations (and `for`, when both are set)', () => {
  const unknown: StateInput = { facts: { limit: 100, limitRemaining: undefined } };
  it.each<{ name: string; settings: string; runs: Run[] }>([
    {
      name: 'forProbes 3 fires at the third breaching run, however close together',
      settings: 'forProbes: 3',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 1, state: remaining(4), phase: 'pending', sent: [] },
        { at: 2, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'forProbes 1 (and 0) fires at once, as without it',
      settings: 'forProbes: 1',
      runs: [{ at: 0, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] }],
    },
    {
      name: 'one good run starts the count over',
      settings: 'forProbes: 2',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: remaining(40), phase: 'inactive', sent: [] },
        { at: 10, state: remaining(4), phase: 'pending', sent: [] },
        { at: 15, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'an unknown run neither counts nor cancels',
      settings: 'forProbes: 2',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: unknown, phase: 'pending', sent: [] },
        { at: 10, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'with for 10m: enough runs but not enough time waits for the time',
      settings: 'for: 10m\n  forProbes: 2',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: remaining(4), phase: 'pending', sent: [] },
        { at: 10, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'with for 10m: enough time but not enough runs waits for the runs',
      settings: 'for: 10m\n  forProbes: 4',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 30, state: remaining(4), phase: 'pending', sent: [] },
        { at: 60, state: remaining(4), phase: 'pending', sent: [] },
        { at: 90, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
    {
      name: 'the count starts over for a new episode after it resolved',
      settings: 'forProbes: 2',
      runs: [
        { at: 0, state: remaining(4), phase: 'pending', sent: [] },
        { at: 5, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
        { at: 10, state: remaining(50), phase: 'resolved', sent: ['resolved limit_remaining_low'] },
        { at: 15, state: remaining(4), phase: 'pending', sent: [] },
        { at: 20, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] },
      ],
    },
  ])('$name', ({ settings, runs }) => {
    h = harness(config(yaml(`  ${settings}\n  thresholds: { limitRemainingBelow: 5 }`)));

    play(h, 'limit_remaining_low', runs);
  });

  it('a pending count survives a restart', () => {
    h = harness(config(yaml('  forProbes: 2\n  thresholds: { limitRemainingBelow: 5 }')));
    play(h, 'limit_remaining_low', [{ at: 0, state: remaining(4), phase: 'pending', sent: [] }]);
    h.restart();

    play(h, 'limit_remaining_low', [{ at: 5, state: remaining(4), phase: 'firing', sent: ['firing limit_remaining_low'] }]);
  });
});

describe('hysteresis: a value hovering at the line does not flap', () => {
  it('fires below 5, stays firing until it is back above 5.5 (hysteresis 0.1), then resolves once', () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5, hysteresis: 0.1 }')));

    play(h, 'limit_remaining_low', [
      { at: 0, state: remaining(5), phase: 'inactive', sent: [] }, // exactly at the line: not below
      { at: 5, state: remaining(4.99), phase: 'firing', sent: ['firing limit_remaining_low'] },
      { at: 10, state: remaining(5), phase: 'firing', sent: [] },
      { at: 15, state: remaining(5.49), phase: 'firing', sent: [] },
      { at: 20, state: remaining(4.9), phase: 'firing', sent: [] },
      { at: 25, state: remaining(5.5), phase: 'resolved', sent: ['resolved limit_remaining_low'] },
      { at: 30, state: remaining(5.2), phase: 'resolved', sent: [] }, // in the band, below recovery but above the line
      { at: 35, state: remaining(4.8), phase: 'firing', sent: ['firing limit_remaining_low'] },
    ]);
  });

  it('ratio thresholds use the same line: 10% of a 200 limit is 20', () => {
    h = harness(config(yaml('  thresholds: { limitRemainingRatioBelow: 0.1, hysteresis: 0.1 }')));

    play(h, 'limit_remaining_low', [
      { at: 0, state: { facts: { limit: 200, limitRemaining: 20 } }, phase: 'inactive', sent: [] },
      { at: 5, state: { facts: { limit: 200, limitRemaining: 19.9 } }, phase: 'firing', sent: ['firing limit_remaining_low'] },
      { at: 10, state: { facts: { limit: 200, limitRemaining: 21.9 } }, phase: 'firing', sent: [] },
      { at: 15, state: { facts: { limit: 200, limitRemaining: 22 } }, phase: 'resolved', sent: ['resolved limit_remaining_low'] },
    ]);
  });
});

describe('repeat and resolve', () => {
  it('reminds every repeat interval while firing, and resolves once', () => {
    h = harness(config(yaml('  repeat: 1h\n  thresholds: { limitRemainingBelow: 5 }')));

    play(h, 'limit_remaining_low', [
      { at: 0, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
      { at: 30, state: remaining(1), phase: 'firing', sent: [] },
      { at: 59, state: remaining(1), phase: 'firing', sent: [] },
      { at: 60, state: remaining(1), phase: 'firing', sent: ['firing(repeat) limit_remaining_low'] },
      { at: 90, state: remaining(1), phase: 'firing', sent: [] },
      { at: 120, state: remaining(1), phase: 'firing', sent: ['firing(repeat) limit_remaining_low'] },
      { at: 125, state: remaining(50), phase: 'resolved', sent: ['resolved limit_remaining_low'] },
      { at: 185, state: remaining(50), phase: 'resolved', sent: [] },
    ]);
  });

  it('sendResolved: false closes the alert silently', () => {
    h = harness(config(yaml('  sendResolved: false\n  thresholds: { limitRemainingBelow: 5 }')));

    play(h, 'limit_remaining_low', [
      { at: 0, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
      { at: 5, state: remaining(50), phase: 'resolved', sent: [] },
    ]);
  });
});

describe('probe_failing', () => {
  it.each<{ name: string; failures: number[]; sent: string[] }>([
    { name: 'one transient failure does not fire', failures: [0, 1, 0, 0], sent: [] },
    { name: 'two in a row do not fire (default 3)', failures: [1, 2, 0], sent: [] },
    { name: 'three in a row fire; the first success resolves', failures: [1, 2, 3, 4, 0], sent: ['firing probe_failing', 'resolved probe_failing'] },
    { name: 'a falling count alone does not resolve', failures: [3, 1, 2, 3], sent: ['firing probe_failing'] },
  ])('$name', ({ failures, sent }) => {
    h = harness(config(yaml('')));

    failures.forEach((f, i) => {
      h!.clock.now = T0 + i * 5 * MIN;
      h!.alerting.evaluate(keyState({ consecutiveFailures: f, facts: { limitRemaining: undefined } }), h!.clock.now);
    });

    expect(queued(h.alerting)).toEqual(sent);
  });
});

describe('inhibition', () => {
  it('an invalid key pages once for key_invalid, not also for low balance, limit or stability', () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5, balanceBelow: 10, stabilityBelow: 0.9 }')));
    const revoked: StateInput = {
      facts: { valid: false, validity: 'revoked', limit: 100, limitRemaining: 0, balance: 0 },
      consecutiveFailures: 5,
      analysis: { stability: { ratio: 0.2, windowMs: 86_400_000, samples: 10, consecutiveFailures: 5, flaps: 1, failures: {} } },
    };

    play(h, 'balance_low', [{ at: 0, state: revoked, phase: 'firing', sent: ['firing key_invalid'] }]);

    const muted = h.alerting.muted!().filter((a) => a.muted === 'inhibited').map((a) => a.rule).sort();
    expect(muted).toEqual(['balance_low', 'limit_remaining_low', 'probe_failing', 'stability_degraded']);
    expect(h.alerting.firing().map((a) => a.rule)).toEqual(['key_invalid']);
  });

  it('when the key is valid again, what is still wrong is announced then', () => {
    h = harness(config(yaml('  thresholds: { balanceBelow: 10 }')));

    play(h, 'balance_low', [
      { at: 0, state: { facts: { valid: false, validity: 'revoked', balance: 1 } }, phase: 'firing', sent: ['firing key_invalid'] },
      { at: 5, state: { facts: { valid: true, balance: 1 } }, phase: 'firing', sent: ['resolved key_invalid', 'firing balance_low'] },
    ]);
  });
});

describe('silences and maintenance windows', () => {
  it('a config silence mutes until it expires; a still-firing alert is announced after expiry', () => {
    const endsAt = new Date(T0 + HOUR).toISOString();
    h = harness(config(yaml(`  thresholds: { limitRemainingBelow: 5 }\n  silences:\n    - { key: prod-main, rule: limit_remaining_low, endsAt: "${endsAt}" }`)));

    play(h, 'limit_remaining_low', [
      { at: 0, state: remaining(1), phase: 'firing', sent: [] },
      { at: 59, state: remaining(1), phase: 'firing', sent: [] },
      { at: 60, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
    ]);
  });

  it('a maintenance window (startsAt..endsAt) mutes only inside the window; matched by labels', () => {
    const startsAt = new Date(T0 + 10 * MIN).toISOString();
    const endsAt = new Date(T0 + 20 * MIN).toISOString();
    h = harness(config(yaml(`  thresholds: { limitRemainingBelow: 5 }\n  silences:\n    - { labels: { team: search }, startsAt: "${startsAt}", endsAt: "${endsAt}", comment: upgrade }`)));

    play(h, 'limit_remaining_low', [
      { at: 10, state: remaining(1), phase: 'firing', sent: [] },
      { at: 15, state: remaining(50), phase: 'resolved', sent: [] }, // never announced: nothing to resolve
      { at: 25, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
    ]);
  });

  it('POST /api/silences mutes a key; GET lists it; after expiry the alert is announced', async () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5 }')));
    const server = await serve(h);

    const post = await fetch(`${server.url}/api/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'prod-*', duration: '30m', comment: 'rotating', createdBy: 'ana' }),
    });
    const listed = (await (await fetch(`${server.url}/api/silences`)).json()) as { silences: { key: string; endsAt: string }[] };
    const bad = await fetch(`${server.url}/api/silences`, { method: 'POST', body: JSON.stringify({ duration: '1h' }) });
    const badRule = await fetch(`${server.url}/api/silences`, { method: 'POST', body: JSON.stringify({ rule: 'balance_lo', duration: '1h' }) });
    const notJson = await fetch(`${server.url}/api/silences`, { method: 'POST', body: '{' });
    await server.close();

    expect(post.status).toBe(201);
    expect(listed.silences).toMatchObject([{ key: 'prod-*', endsAt: new Date(T0 + 30 * MIN).toISOString(), source: 'api' }]);
    expect(bad.status).toBe(400);
    expect(badRule.status).toBe(400);
    expect(((await badRule.json()) as { issues: { path: string }[] }).issues).toMatchObject([{ path: 'rule' }]);
    expect(notJson.status).toBe(400);
    play(h, 'limit_remaining_low', [
      { at: 0, state: remaining(1), phase: 'firing', sent: [] },
      { at: 30, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
    ]);
  });

  it('a silence added between two runs of a key applies from the next run (silences are cached)', async () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5 }')));
    play(h, 'limit_remaining_low', [{ at: 0, state: remaining(50), phase: 'inactive', sent: [] }]);
    const server = await serve(h);

    const post = await fetch(`${server.url}/api/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'prod-main', duration: '30m' }),
    });
    await server.close();

    expect(post.status).toBe(201);
    play(h, 'limit_remaining_low', [
      { at: 1, state: remaining(1), phase: 'firing', sent: [] },
      { at: 31, state: remaining(1), phase: 'firing', sent: ['firing limit_remaining_low'] },
    ]);
  });

  it('GET /api/alerts lists pending and firing alerts with their silence state', async () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5, balanceBelow: 10 }')));
    h.alerting.evaluate(keyState({ facts: { limit: 100, limitRemaining: 1, balance: 2 } }), T0);
    const server = await serve(h);

    const res = (await (await fetch(`${server.url}/api/alerts`)).json()) as { alerts: { rule: string; state: string; key: string }[] };
    const other = await fetch(`${server.url}/api/nothing`);
    await server.close();

    expect(res.alerts.map((a) => `${a.key} ${a.rule} ${a.state}`).sort()).toEqual(['prod-main balance_low firing', 'prod-main limit_remaining_low firing']);
    expect(other.status).toBe(404);
  });
});

describe('restart', () => {
  it('remembers what is firing and does not announce it again', () => {
    h = harness(config(yaml('  thresholds: { limitRemainingBelow: 5 }')));
    h.alerting.evaluate(keyState(remaining(1)), T0);

    const again = h.restart();
    h.clock.now = T0 + 5 * MIN;
    again.evaluate(keyState(remaining(1)), h.clock.now);

    expect(again.firing().map((a) => a.rule)).toEqual(['limit_remaining_low']);
    expect(queued(again)).toEqual(['firing limit_remaining_low']);
  });
});

describe('the other rules', () => {
  it('identity_changed fires when the answering provider changes, and resolves a day later', () => {
    h = harness(config(yaml('')));
    const as = (p: string): StateInput => ({ facts: { identity: { provider: p, confidence: 0.9, matchesClaim: p === 'openrouter', evidence: [] } } });

    play(h, 'identity_changed', [
      { at: 0, state: as('openrouter'), phase: 'inactive', sent: [] },
      { at: 5, state: as('openrouter'), phase: 'inactive', sent: [] },
      { at: 10, state: as('deepseek'), phase: 'firing', sent: ['firing identity_changed'] },
      { at: 15, state: as('deepseek'), phase: 'firing', sent: [] },
      { at: 10 + 24 * 60, state: as('deepseek'), phase: 'resolved', sent: ['resolved identity_changed'] },
    ]);
  });

  it('model_access_lost fires when a watched model goes from access true to false', () => {
    h = harness(config(yaml('')));
    const access = (a: Record<string, boolean>): StateInput => ({
      watchModels: ['openrouter/auto', 'openrouter/free'],
      facts: { models: { count: 3, source: 'user', access: a, pricingKnown: {} } },
    });

    play(h, 'model_access_lost', [
      { at: 0, state: access({ 'openrouter/auto': true, 'openrouter/free': false }), phase: 'inactive', sent: [] }, // never had free
      { at: 5, state: access({ 'openrouter/auto': false, 'openrouter/free': false }), phase: 'firing', sent: ['firing model_access_lost'] },
      { at: 10, state: access({ 'openrouter/auto': true, 'openrouter/free': false }), phase: 'resolved', sent: ['resolved model_access_lost'] },
    ]);
  });

  it('key_expiring fires within expiringWithin (default 7d) of expiresAt', () => {
    h = harness(config(yaml('')));
    const expires = (days: number): StateInput => ({ facts: { expiresAt: Math.round(T0 / 1000) + days * 86_400 } });

    play(h, 'key_expiring', [
      { at: 0, state: expires(8), phase: 'inactive', sent: [] },
      { at: 1, state: expires(6.9), phase: 'firing', sent: ['firing key_expiring'] },
      { at: 2, state: { facts: { expiresAt: null } }, phase: 'resolved', sent: ['resolved key_expiring'] },
    ]);
  });

  it('exhaustion_soon and stability_degraded read the analysis', () => {
    h = harness(config(yaml('  thresholds: { exhaustionWithin: 48h, stabilityBelow: 0.95 }')));
    const run = (seconds: number | undefined, ratio: number): StateInput => ({
      analysis: analysis({
        exhaustion: { ...(seconds !== undefined ? { seconds } : {}), against: 'limit', resetsFirst: false, confidence: 'high', note: '' },
        stability: { ratio, windowMs: 86_400_000, samples: 100, consecutiveFailures: 0, flaps: 2, failures: {} },
      }),
    });

    h.alerting.evaluate(keyState(run(47 * 3600, 0.94)), T0);
    const fired = queued(h.alerting);
    h.alerting.evaluate(keyState(run(undefined, 0.99)), T0 + 5 * MIN);

    expect(fired.sort()).toEqual(['firing exhaustion_soon', 'firing stability_degraded']);
    expect(queued(h.alerting).slice(2).sort()).toEqual(['resolved exhaustion_soon', 'resolved stability_degraded']);
  });

  it('severities are overridable, and per-key thresholds override alerting.thresholds', () => {
    h = harness(
      config(
        yaml('  thresholds: { balanceBelow: 10 }\n  severities: { balance_low: critical }', '    alerts: { balanceBelow: 100 }'),
      ),
    );

    h.alerting.evaluate(keyState({ facts: { balance: 50 } }), T0);

    expect(h.alerting.firing()).toMatchObject([{ rule: 'balance_low', severity: 'critical', value: 50, threshold: 100 }]);
  });
});

async function serve(hh: Harness): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    void hh.alerting.handle(req, res, url).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
