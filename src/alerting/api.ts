/** /api/alerts and /api/silences. Authentication is the server's job; this only speaks JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { formatPath } from '../config/load.js';
import type { AlertRecord } from './machine.js';
import { alertFingerprint } from './notification.js';
import { fromRequest, SilenceRequest, type SilenceRule } from './silences.js';

const MAX_BODY = 64 * 1024;

export interface ApiDeps {
  alerts: () => AlertRecord[];
  silences: (now: number) => SilenceRule[];
  addSilence: (s: SilenceRule, now: number) => void;
  now: () => number;
}

export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: ApiDeps): Promise<boolean> {
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '/api/alerts') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET');
    const alerts = deps
      .alerts()
      .filter((a) => a.phase === 'pending' || a.phase === 'firing')
      .map(alertView);
    json(res, 200, { alerts });
    return true;
  }
  if (path === '/api/silences') {
    if (req.method === 'GET' || req.method === 'HEAD') {
      json(res, 200, { silences: deps.silences(deps.now()).map(silenceView) });
      return true;
    }
    if (req.method !== 'POST') return methodNotAllowed(res, 'GET, POST');
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      json(res, (err as { tooLarge?: boolean }).tooLarge ? 413 : 400, { error: 'body must be a JSON object' });
      return true;
    }
    const parsed = SilenceRequest.safeParse(body);
    if (!parsed.success) {
      json(res, 400, {
        error: 'invalid silence',
        issues: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message.split('\n')[0] })),
      });
      return true;
    }
    const now = deps.now();
    const silence = fromRequest(parsed.data, now, randomUUID());
    if (silence.endsAt <= now || (silence.startsAt !== undefined && silence.startsAt >= silence.endsAt)) {
      json(res, 400, { error: 'invalid silence', issues: [{ path: 'endsAt', message: 'must be in the future and after startsAt' }] });
      return true;
    }
    deps.addSilence(silence, now);
    json(res, 201, { silence: silenceView(silence) });
    return true;
  }
  return false;
}

function alertView(a: AlertRecord): Record<string, unknown> {
  return {
    key: a.key,
    rule: a.rule,
    state: a.phase,
    severity: a.severity,
    provider: a.provider,
    labels: a.labels,
    value: a.value ?? null,
    threshold: a.threshold ?? null,
    summary: a.summary,
    activeSince: iso(a.activeSince),
    startsAt: iso(a.startsAt),
    lastNotifiedAt: iso(a.lastNotifiedAt),
    muted: a.muted ?? null,
    fingerprint: alertFingerprint(a.key, a.rule),
  };
}

function silenceView(s: SilenceRule): Record<string, unknown> {
  return {
    id: s.id,
    key: s.key ?? null,
    rule: s.rule ?? null,
    labels: s.labels ?? {},
    startsAt: iso(s.startsAt),
    endsAt: iso(s.endsAt),
    comment: s.comment ?? null,
    createdBy: s.createdBy ?? null,
    source: s.source,
  };
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function methodNotAllowed(res: ServerResponse, allow: string): true {
  res.setHeader('allow', allow);
  json(res, 405, { error: 'method not allowed' });
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Keep reading (so the client gets its 413) but stop keeping.
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) reject(Object.assign(new Error('body too large'), { tooLarge: true }));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
