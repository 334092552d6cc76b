import { request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../../shared/http/request-body.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { GUID, guid, hostileId, pathSegment, TRAVERSAL_AND_INJECTION } from './arbitraries.js';
import { runs } from './seed.js';

// The run counts are the budget; the time-out only guards against a hang, on a shared, loaded machine.
vi.setConfig({ testTimeout: 180_000 });

// A share of the hostile-input cases over real HTTP, through the local Functions host loading the
// built app (npm test builds first): what the in-process property suites cannot show, the host's
// HTTP parsing, URL decoding and routing in front of the handlers. Run counts are the CI budget.
const READ_RUNS = runs(300);
const REGISTER_RUNS = runs(200);

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ tag: 'hp' });
});

afterAll(async () => {
  // Nothing in the tracking API may ever reach Partner Center or the vault.
  expect(app.sims.partnerCenter.counters.total).toBe(0);
  await app?.stop();
});

interface Answer {
  status: number;
  contentType: string | undefined;
  json: Record<string, unknown> | undefined;
  text: string;
}

/** One HTTP request with the path sent exactly as given (no URL normalisation, unlike fetch). */
function send(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(app.local.url);
  return new Promise<Answer>((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectProblem(res: Answer, status: number, type?: string): void {
  expect(res.status).toBe(status);
  expect(res.contentType).toBe('application/problem+json');
  expect(res.json).toMatchObject({ status, title: expect.any(String) });
  if (type !== undefined) expect(res.json?.type).toBe(type);
  expect(res.text).not.toMatch(/\bat .+\(.+:\d+:\d+\)|node:internal/);
}

/** A path segment as a hostile caller writes it: percent-encoded, or raw where HTTP allows it. */
const rawSegment = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(hostileId, guid).map((id) => ({ id, sent: pathSegment(id) })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...TRAVERSAL_AND_INJECTION.filter((v) => /^[\x21-\x7e]+$/.test(v) && !/[/?#]/.test(v)))
      .map((sent) => ({ id: undefined as string | undefined, sent })),
  },
);

describe('the tracking API over HTTP, through the local host', () => {
  it(`reads by any path: a GUID pair is looked up (404), anything else is refused, never 5xx (${READ_RUNS} requests)`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(rawSegment, rawSegment, async (c, t) => {
        const path = `/api/trackings/${c.sent}/${t.sent}`;
        const res = await send('GET', path).catch((error: NodeJS.ErrnoException) => {
          // Past Node's request-head limit, Node 24's parser may reset the connection while the
          // client is still writing the head, instead of the 431 Node 22 answers: refused either way.
          if (path.length > 16 * 1024 && error.code === 'ECONNRESET') return undefined;
          throw error;
        });
        if (!res) return;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status).toBeLessThan(500);
        const ids = [c.id, t.id];
        if (path.length > 16 * 1024) {
          // Past Node's request-head limit (16 KiB): refused by the HTTP parser, before any function.
          expect(res.status).toBe(431);
        } else if (ids.every((id) => id !== undefined && GUID.test(id.trim()))) {
          // Decoded, trimmed and matched case-insensitively: a lookup of an unknown tracking.
          expectProblem(res, 404, '/problems/not-found');
        } else if ([c.sent, t.sent].some((sent) => sent === '' || sent === '.' || sent === '..')) {
          // An empty or dot segment changes the path's shape (dot segments are resolved, RFC 3986):
          // another route answers (the list for `/api/trackings/{c}/..`, one customer for `{c}/`), or none.
          expect([200, 400, 404]).toContain(res.status);
          if (res.status !== 200) expectProblem(res, res.status);
        } else if (res.status === 404) {
          // Parsing gave the path another shape (a '\\' is a '/' in an http URL, then dot segments
          // resolve): the host's own 404 when it left /api/trackings, else the tracking routes'
          // fallback, naming the shapes there are. Never a lookup.
          expectProblem(res, 404);
          const fromFallback = /^Use \/api\/trackings\/\{customerId\}\/\{trackingId\}/.test(
            String(res.json?.detail),
          );
          expect(res.json?.type === 'about:blank' || fromFallback, String(res.json?.detail)).toBe(true);
        } else {
          expectProblem(res, 400, '/problems/invalid-request');
        }
      }),
      { numRuns: READ_RUNS },
    );
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(0);
  });

  it(`registers over HTTP with exact answers, prototype keys included (${REGISTER_RUNS} requests)`, async () => {
    const seen = new Set<string>();
    const body = fc.tuple(guid, guid).chain(([c, t]) => {
      const key = `${c.toLowerCase()}/${t.toLowerCase()}`;
      return fc.constantFrom<{ text: string; type?: string; key?: string; status?: number }>(
        { text: JSON.stringify({ customerId: c, trackingId: t }), key },
        { text: JSON.stringify({ location: `/customers/${c}/batchJobStatus/${t}` }), key },
        { text: `{"__proto__":{"customerId":"${c}","trackingId":"${t}"}}`, status: 400 },
        { text: `{"constructor":{"prototype":{"customerId":"${c}"}}}`, status: 400 },
        { text: `{"customerId":"${c}","trackingId":"${t}","__proto__":{"polluted":true}}`, key },
        { text: `{"customerId":"${c}",`, status: 400 },
        { text: JSON.stringify({ customerId: c, trackingId: t }), type: 'text/plain', status: 415 },
        { text: `${' '.repeat(MAX_JSON_BODY_BYTES)}{}`, status: 413 },
      );
    });
    await fc.assert(
      fc.asyncProperty(body, async ({ text, type, key, status }) => {
        const res = await send('POST', '/api/trackings', text, {
          'content-type': type ?? 'application/json',
          'content-length': String(Buffer.byteLength(text)),
        });
        if (key !== undefined) {
          expect(res.status).toBe(seen.has(key) ? 200 : 201);
          seen.add(key);
          expect(res.json).toMatchObject({ state: 'pending' });
        } else {
          expectProblem(res, status!);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: REGISTER_RUNS },
    );
    expect(seen.size).toBeGreaterThan(0);
  });
});
