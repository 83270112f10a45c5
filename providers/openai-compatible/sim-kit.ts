/**
 * What every provider simulator (providers/<id>/sim.ts) shares: a loopback fake server whose
 * answers follow a switchable scenario. The simulator supplies the provider's wire format (its
 * valid bodies, its bad-key reply, its 429); the kit handles the scenarios that look the same
 * everywhere (hang, 5xx, garbage body) and checks the credential on every request, so a wrong
 * key gets the provider's real bad-key answer even in the `valid` scenario.
 */
import { startFakeServer, type FakeReply, type FakeRequest, type FakeServer } from '../../src/sim/fake-server.js';

export type SimScenario =
  | 'valid'
  | 'invalid'
  | 'restricted'
  | 'quota'
  | 'rate_limited'
  | 'upstream'
  | 'hang'
  | 'malformed';

export const SIM_SCENARIOS: readonly SimScenario[] = [
  'valid',
  'invalid',
  'restricted',
  'quota',
  'rate_limited',
  'upstream',
  'hang',
  'malformed',
];

export interface SimOptions {
  /** The key the fake accepts (obviously fake by default). */
  key?: string;
  /** The admin/management key the fake accepts on admin endpoints. */
  adminKey?: string;
  scenario?: SimScenario;
  port?: number;
}

export interface SimState {
  scenario: SimScenario;
  key: string;
  adminKey: string | undefined;
}

/** A route's answer for the scenarios the provider shapes itself (valid, restricted, quota). */
export type SimRoute = (req: FakeRequest, state: SimState) => FakeReply;

export interface SimDefinition {
  /** Path prefix of the simulated base URL, e.g. `/v1` (the adapter's base URL path). */
  basePath: string;
  /** Full request paths (including basePath) -> handler. */
  routes: Record<string, SimRoute>;
  /** Routes reached with the admin key instead of the normal one. */
  adminRoutes?: Record<string, SimRoute>;
  /** Reads the credential the client sent. */
  credential: (req: FakeRequest) => string | undefined;
  /** The provider's answer to a wrong or missing key. */
  invalid: FakeReply;
  /** The provider's 429. */
  rateLimited: FakeReply;
  /** The provider's 5xx (default: 503 with a JSON error). */
  upstream?: FakeReply;
  /** Headers the provider sends on every response (identification signals). */
  headers?: Record<string, string>;
}

export interface ProviderSim {
  /** Base URL to configure the adapter with. */
  baseUrl: string;
  server: FakeServer;
  state: SimState;
  set(scenario: SimScenario): void;
  close(): Promise<void>;
}

export function bearerOf(req: FakeRequest): string | undefined {
  const h = req.headers.authorization;
  const v = Array.isArray(h) ? h[0] : h;
  return v?.startsWith('Bearer ') ? v.slice(7) : undefined;
}

export function headerOf(name: string): (req: FakeRequest) => string | undefined {
  return (req) => {
    const h = req.headers[name];
    return Array.isArray(h) ? h[0] : h;
  };
}

export async function startSim(def: SimDefinition, opts: SimOptions = {}): Promise<ProviderSim> {
  const state: SimState = {
    scenario: opts.scenario ?? 'valid',
    key: opts.key ?? 'sk-test-not-a-real-key-0000000000000000',
    adminKey: opts.adminKey,
  };
  const withHeaders = (reply: FakeReply): FakeReply =>
    def.headers ? { ...reply, headers: { ...def.headers, ...reply.headers } } : reply;

  const wrap = (route: SimRoute, admin: boolean) => (req: FakeRequest): FakeReply => {
    switch (state.scenario) {
      case 'hang':
        return { hang: true };
      case 'upstream':
        return withHeaders(def.upstream ?? { status: 503, body: { error: { message: 'Service Unavailable', type: 'server_error' } } });
      case 'rate_limited':
        return withHeaders(def.rateLimited);
      case 'malformed':
        return withHeaders({
          status: 200,
          headers: { 'content-type': 'text/html' },
          body: '<html><body>502 Bad Gateway (cached page)</body></html>',
        });
      default:
        break;
    }
    const expected = admin ? state.adminKey : state.key;
    const sent = def.credential(req);
    if (state.scenario === 'invalid' || expected === undefined || sent !== expected) {
      return withHeaders(def.invalid);
    }
    return withHeaders(route(req, state));
  };

  const table: Record<string, (req: FakeRequest) => FakeReply> = {};
  for (const [path, route] of Object.entries(def.routes)) table[path] = wrap(route, false);
  for (const [path, route] of Object.entries(def.adminRoutes ?? {})) table[path] = wrap(route, true);
  const server = await startFakeServer(table, opts.port !== undefined ? { port: opts.port } : {});
  return {
    baseUrl: server.url + def.basePath,
    server,
    state,
    set: (scenario) => {
      state.scenario = scenario;
    },
    close: () => server.close(),
  };
}

/** A 200 OpenAI-style model list. */
export function openAiModelList(ids: readonly string[], ownedBy = 'system', extra: (id: string) => Record<string, unknown> = () => ({})): unknown {
  return {
    object: 'list',
    data: ids.map((id) => ({ id, object: 'model', created: 1715367049, owned_by: ownedBy, ...extra(id) })),
  };
}
