import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { MAX_JSON_BODY_BYTES } from '../../shared/http/request-body.js';
import { TRACKING_STATES } from '../../shared/trackings/model.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../support/app-settings.js';
import {
  collectGarbage,
  expectProblem,
  invokeRaw,
  invokeStreamed,
  type RawResponse,
} from '../support/hostile-http.js';
import {
  GUID,
  guid,
  hasControlCharacter,
  headerValue,
  hostileHeaders,
  hostileId,
  pathSegment,
  queryString,
  queryValue,
} from './arbitraries.js';
import { runs } from './seed.js';

// The run counts are the budget; the time-out only guards against a hang, on a shared, loaded machine.
vi.setConfig({ testTimeout: 180_000 });

// Hostile input against the tracking API (register, list, read, cancel, wrong methods), through
// the real handler with Azurite behind it. Run counts are the CI budget.
const LIST_RUNS = runs(1_500);
const ONE_RUNS = runs(1_500);
const METHOD_RUNS = runs(500);
const REGISTER_RUNS = runs(3_500);

let sims: RunningSimulators;
type Handler = import('../support/invoke.js').HttpHandler;
/** The tracking functions by name, loaded after the settings are in place. */
let handlers: Record<
  'registerTracking' | 'listTrackings' | 'getTracking' | 'cancelTracking' | 'trackingsFallback',
  Handler
>;
const registered: { customerId: string; trackingId: string }[] = [];
/** `customerId/trackingId` (lower case) of every tracking registered in this file, by any test. */
const registeredKeys = new Set<string>();
const keyOf = (customerId: string, trackingId: string) =>
  `${customerId.trim().toLowerCase()}/${trackingId.trim().toLowerCase()}`;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers(trackingStorageSettings(uniqueStorageNames('prop')));
  handlers = {
    registerTracking: (await import('../../functions/registerTracking.js')).registerTracking,
    listTrackings: (await import('../../functions/listTrackings.js')).listTrackings,
    getTracking: (await import('../../functions/getTracking.js')).getTracking,
    cancelTracking: (await import('../../functions/cancelTracking.js')).cancelTracking,
    trackingsFallback: (await import('../../functions/trackingsFallback.js')).trackingsFallback,
  };
  const customerId = crypto.randomUUID();
  for (let i = 0; i < 6; i++) {
    const key = { customerId, trackingId: crypto.randomUUID() };
    const res = await call('POST', '/api/trackings', {}, JSON.stringify({ ...key, label: `seed ${i}` }), {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(201);
    registered.push(key);
    registeredKeys.add(keyOf(key.customerId, key.trackingId));
  }
});

afterAll(async () => {
  // Nothing in the tracking API may ever reach Partner Center or the vault.
  expect(sims.partnerCenter.counters.total).toBe(0);
  expect(sims.keyVault.counters.requests).toBe(0);
  await sims?.stop();
});

function call(
  method: string,
  url: string,
  params: Record<string, string>,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const name = route(method, params);
  return invokeRaw(handlers[name], { method, url, params, headers, body }, name);
}

/** The function the Functions host picks for a method and the route values of a request path. */
function route(method: string, params: Record<string, string>): keyof typeof handlers {
  const upper = method.toUpperCase();
  const { customerId, trackingId } = params;
  if (customerId === undefined && trackingId === undefined) {
    if (upper === 'POST') return 'registerTracking';
    if (upper === 'GET') return 'listTrackings';
  } else if (customerId !== undefined && trackingId !== undefined) {
    if (upper === 'GET') return 'getTracking';
    if (upper === 'DELETE') return 'cancelTracking';
  }
  return 'trackingsFallback';
}

function countOf(statuses: Map<number, number>, status: number): number {
  return statuses.get(status) ?? 0;
}

/** Invariants of every answer of the tracking API. */
function expectWellFormed(res: RawResponse, allowed: number[]): void {
  expect(res.status).toBeLessThan(500);
  expect(allowed).toContain(res.status);
  if (res.status >= 400) expectProblem(res);
  expect(res.headers.get('ms-correlationid')).toMatch(GUID);
}

/** Forged continuation tokens: junk, base64url JSON of every shape, and well-formed ones with hostile service keys. */
const continuationToken: fc.Arbitrary<string> = fc.oneof(
  queryValue,
  fc.string({ unit: 'binary-ascii', maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc
    .record(
      {
        v: fc.oneof(fc.constant(1), fc.jsonValue({ maxDepth: 1 })),
        a: fc.oneof(fc.string({ maxLength: 100 }), fc.stringMatching(/^\d{15}_[0-9a-f-]{36}_[0-9a-f-]{36}$/)),
        s: fc
          .record(
            {
              nextPartitionKey: fc.oneof(
                fc.string({ maxLength: 40 }),
                fc.string({ unit: 'binary', maxLength: 20 }),
              ),
              nextRowKey: fc.oneof(
                fc.string({ maxLength: 40 }),
                fc.string({ unit: 'binary', maxLength: 20 }),
              ),
            },
            { requiredKeys: ['nextPartitionKey'] },
          )
          .map((s) => Buffer.from(JSON.stringify(s)).toString('base64')),
      },
      { requiredKeys: [] },
    )
    .map((token) => Buffer.from(JSON.stringify(token)).toString('base64url')),
);

const listValue = (name: string): fc.Arbitrary<string> => {
  switch (name) {
    case 'state':
      return fc.oneof(fc.constantFrom(...TRACKING_STATES, 'PENDING', 'finished,expired', ''), queryValue);
    case 'customerId':
      return fc.oneof(guid, hostileId, fc.constant(registered[0]?.customerId ?? ''));
    case 'continuationToken':
      return continuationToken;
    default:
      return queryValue;
  }
};

const listQuery = fc
  .array(
    fc
      .constantFrom(
        'top',
        'continuationToken',
        'state',
        'customerId',
        'include',
        'refresh',
        '$filter',
        'top ',
      )
      .chain((name) => listValue(name).map((value) => [name, value] as const)),
    { maxLength: 5 },
  )
  .map((pairs) => {
    const search = new URLSearchParams();
    for (const [name, value] of pairs) search.append(name, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  });

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/problem+json',
  'application/vnd.example+json; charset=utf-8',
] as const;
const OTHER_TYPES = [
  'text/plain',
  'text/json',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonp',
  'json',
  '*/*',
] as const;

/**
 * A request body and what it must get once its content type and size pass: `key` (lower-case
 * `customerId/trackingId`) for a valid registration (201 the first time, 200 after), none for a
 * body that is not one (400).
 */
type Body = { text?: string; bytes?: Uint8Array; key?: string };

/** An id a registration can never accept: not a string, or a string that is no GUID even trimmed. */
const neverAnId: fc.Arbitrary<unknown> = fc.oneof(
  hostileId.filter((v) => !GUID.test(v.trim())),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string'),
);
const neverAnIdText = hostileId.filter((v) => !GUID.test(v.trim()));

const validRegistration: fc.Arbitrary<Body> = fc
  .tuple(guid, guid, fc.constantFrom('ids', 'location', 'absolute'))
  .chain(([c, t, shape]) => {
    const body =
      shape === 'ids'
        ? { customerId: c, trackingId: t }
        : shape === 'location'
          ? { location: `/customers/${c}/batchJobStatus/${t}` }
          : { location: `https://api.partnercenter.microsoft.com/v1/CUSTOMERS/${c}/BATCHJOBSTATUS/${t}/` };
    return fc
      .option(
        fc.string({ maxLength: 200 }).filter((l) => !hasControlCharacter(l)),
        { nil: undefined },
      )
      .map((label) => ({
        text: JSON.stringify(label === undefined ? body : { ...body, label }),
        key: keyOf(c, t),
      }));
  });

const deepJson: fc.Arbitrary<Body> = fc
  .tuple(fc.integer({ min: 1, max: 5_000 }), fc.boolean())
  .map(([depth, arrays]) => ({
    text: arrays
      ? `${'['.repeat(depth)}${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  }));

const registrationLike: fc.Arbitrary<Body> = fc
  .record(
    {
      // Every way of naming the tracking is broken, so each body must get exactly 400.
      customerId: neverAnId,
      trackingId: fc.oneof(neverAnId, guid),
      location: fc.oneof(
        neverAnIdText,
        fc.tuple(neverAnIdText, guid).map(([c, t]) => `/customers/${c}/batchJobStatus/${t}`),
        fc.tuple(guid, guid).map(([c, t]) => `javascript://x/customers/${c}/batchJobStatus/${t}`),
        fc.tuple(guid, guid).map(([c, t]) => `/customers/${c}/batchJobStatus/${t}/../../customers/x`),
      ),
      statusLink: fc.oneof(neverAnIdText, fc.record({ uri: neverAnIdText })),
      links: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ uri: neverAnIdText }), { maxKeys: 40 }),
        fc.jsonValue({ maxDepth: 2 }).filter((v) => !JSON.stringify(v).includes('atchJobStatus')),
      ),
      label: fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 1 })),
      __proto__: fc.jsonValue({ maxDepth: 1 }),
      constructor: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((body) => ({ text: JSON.stringify(body) }));

const invalidJson: fc.Arbitrary<Body> = fc
  .oneof(
    fc.string({ maxLength: 300 }).filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    }),
    fc.constantFrom(
      '',
      '{',
      '{"customerId":',
      "{'customerId': 'x'}",
      '{"a":1,}',
      '[1,2,',
      'NaN',
      'undefined',
      '{"a":1} // comment',
      '\ufeff{"customerId":"00000000-0000-0000-0000-000000000000"}',
      '{"a":"\\ud800"',
    ),
  )
  .map((text) => ({ text }));

/**
 * Prototype pollution attempts, written as text (an object literal would set the prototype instead).
 * Ids behind `__proto__` or `constructor` are never read (400); a link that happens to be named
 * `__proto__` is an ordinary link (JSON.parse makes it an own property), and extra keys are ignored.
 */
const pollution: fc.Arbitrary<Body> = fc.tuple(guid, guid).chain(([c, t]) =>
  fc.constantFrom<Body>(
    { text: `{"__proto__":{"customerId":"${c}","trackingId":"${t}","polluted":true}}` },
    { text: `{"constructor":{"prototype":{"polluted":true}},"customerId":"${c}"}` },
    { text: `{"constructor":{"customerId":"${c}","trackingId":"${t}"}}` },
    { text: `{"links":{"__proto__":{"uri":"/customers/${c}/batchJobStatus/${t}"}}}`, key: keyOf(c, t) },
    {
      text: `{"customerId":"${c}","trackingId":"${t}","__proto__":{"polluted":true}}`,
      key: keyOf(c, t),
    },
  ),
);

const anyJson: fc.Arbitrary<Body> = fc.jsonValue({ maxDepth: 6 }).map((v) => ({ text: JSON.stringify(v) }));

const invalidUtf8: fc.Arbitrary<Body> = fc
  .uint8Array({ minLength: 0, maxLength: 512 })
  .map((bytes) => ({ bytes: Uint8Array.from([0x7b, 0xff, ...bytes, 0xc3]) }));

/** Bodies over the limit: padded valid JSON (whitespace or a long label), up to 4 MiB. */
const oversized: fc.Arbitrary<Body> = fc
  .tuple(fc.integer({ min: MAX_JSON_BODY_BYTES + 1, max: 4 * 1024 * 1024 }), fc.boolean())
  .map(([size, label]) => {
    const base = JSON.stringify({ customerId: crypto.randomUUID(), trackingId: crypto.randomUUID() });
    const text = label
      ? `{"label":"${'L'.repeat(Math.max(0, size - base.length - 12))}",${base.slice(1)}`
      : `${' '.repeat(Math.max(0, size - base.length))}${base}`;
    return { text };
  });

/** Exactly at and just over the limit: the boundary is where off-by-one bugs live. */
const boundary: fc.Arbitrary<Body> = fc.tuple(fc.constantFrom(0, 1), guid, guid).map(([over, c, t]) => {
  const base = JSON.stringify({ customerId: c, trackingId: t });
  const text = `${' '.repeat(MAX_JSON_BODY_BYTES - base.length + over)}${base}`;
  return over === 0 ? { text, key: keyOf(c, t) } : { text };
});

const registerRequest = fc.record({
  body: fc.oneof(
    { weight: 2, arbitrary: validRegistration },
    { weight: 3, arbitrary: registrationLike },
    { weight: 2, arbitrary: invalidJson },
    { weight: 2, arbitrary: anyJson },
    { weight: 1, arbitrary: deepJson },
    { weight: 1, arbitrary: pollution },
    { weight: 1, arbitrary: invalidUtf8 },
    { weight: 1, arbitrary: oversized },
    { weight: 1, arbitrary: boundary },
  ),
  contentType: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...JSON_TYPES) },
    { weight: 2, arbitrary: fc.constantFrom(...OTHER_TYPES) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  contentLength: fc.oneof(
    { weight: 6, arbitrary: fc.constant<'exact' | undefined>(undefined) },
    { weight: 2, arbitrary: fc.constant<'exact' | undefined>('exact') },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.nat({ max: 100 }).map(String),
        headerValue(12),
        fc.constant('1e9'),
        fc.constant('99999999999999999999'),
      ),
    },
  ),
  headers: hostileHeaders.map(({ 'content-length': _, ...rest }) => rest),
  path: fc.constantFrom('/api/trackings', '/api/trackings/', '/api/TRACKINGS?x=1'),
});

describe('the tracking API under hostile input', () => {
  it(`lists with any query string: 200 or a 400 problem, never 5xx (${LIST_RUNS} requests)`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(listQuery, hostileHeaders, async (query, headers) => {
        const res = await call('GET', `/api/trackings${query}`, {}, undefined, headers);
        statuses.set(res.status, countOf(statuses, res.status) + 1);
        expectWellFormed(res, [200, 400]);
        if (res.status === 400) expectProblem(res, 400, '/problems/invalid-request');
        if (res.status === 200) {
          const list = res.json as { items: unknown[]; continuationToken?: string };
          expect(Array.isArray(list.items)).toBe(true);
          expect(list.items.length).toBeLessThanOrEqual(200);
        }
        if (query === '') expect(res.status).toBe(200);
      }),
      { numRuns: LIST_RUNS },
    );
    expect(countOf(statuses, 200)).toBeGreaterThan(0);
    expect(countOf(statuses, 400)).toBeGreaterThan(0);
  });

  it(`reads and cancels by any ids: 200/204 when registered, 404 when not, 400 when malformed (${ONE_RUNS} requests)`, async () => {
    const statuses = new Map<number, number>();
    const id = fc.oneof({ weight: 3, arbitrary: hostileId }, { weight: 1, arbitrary: guid });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 5, arbitrary: fc.tuple(id, id) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              ...registered.map((k) => [k.customerId, k.trackingId] as [string, string]),
            ),
          },
        ),
        fc.constantFrom('GET', 'DELETE'),
        queryString(['include', 'refresh']),
        hostileHeaders,
        async ([customerId, trackingId], method, query, headers) => {
          const res = await call(
            method,
            `/api/trackings/${pathSegment(customerId)}/${pathSegment(trackingId)}${query}`,
            { customerId, trackingId },
            undefined,
            headers,
          );
          statuses.set(res.status, countOf(statuses, res.status) + 1);
          const valid = [customerId, trackingId].every((v) => GUID.test(v.trim()));
          if (!valid) {
            expectWellFormed(res, [400]);
            expectProblem(res, 400, '/problems/invalid-request');
          } else if (registeredKeys.has(keyOf(customerId, trackingId))) {
            // A registered tracking is always found (a cancelled one too).
            expectWellFormed(res, [method === 'GET' ? 200 : 204]);
          } else {
            expectWellFormed(res, [404]);
            expectProblem(res, 404, '/problems/not-found');
          }
        },
      ),
      { numRuns: ONE_RUNS },
    );
    expect(countOf(statuses, 400)).toBeGreaterThan(0);
    expect(countOf(statuses, 404)).toBeGreaterThan(0);
  });

  it(`refuses other methods and shapes with a 405 or 404 problem (${METHOD_RUNS} requests)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD', 'PURGE', 'FOO', 'put', 'patch')
            .map((method) => ({
              method,
              params: {} as Record<string, string>,
            })),
          fc
            .tuple(guid, guid)
            .map(([customerId, trackingId]) => ({ method: 'POST', params: { customerId, trackingId } })),
          fc.constant({ method: 'DELETE', params: {} as Record<string, string> }),
          // An empty id would be `/api/trackings/`: the collection, not a one-segment path.
          hostileId
            .filter((customerId) => customerId !== '')
            .map((customerId) => ({
              method: 'GET',
              params: { customerId } as Record<string, string>,
            })),
        ),
        fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        async ({ method, params }, body) => {
          const sendsBody = body !== undefined && !['GET', 'HEAD'].includes(method.toUpperCase());
          const ids = [params.customerId, params.trackingId].filter((id) => id !== undefined);
          const res = await call(
            method,
            ['/api/trackings', ...ids.map(pathSegment)].join('/'),
            params,
            sendsBody ? JSON.stringify(body) : undefined,
            sendsBody ? { 'content-type': 'application/json' } : {},
          );
          if (params.customerId !== undefined && params.trackingId === undefined) {
            expectWellFormed(res, [404]);
            expectProblem(res, 404, '/problems/not-found');
          } else {
            expectWellFormed(res, [405]);
            expectProblem(res, 405, '/problems/method-not-allowed');
            expect(res.headers.get('allow')).toBe(
              params.customerId === undefined ? 'GET, POST' : 'GET, DELETE',
            );
          }
        },
      ),
      { numRuns: METHOD_RUNS },
    );
  });

  it(`registers only well-formed JSON bodies within the size limit (${REGISTER_RUNS} requests)`, async () => {
    await collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(registerRequest, async ({ body, contentType, contentLength, headers, path }) => {
        const size = body.bytes ? body.bytes.length : Buffer.byteLength(body.text ?? '');
        const sent: Record<string, string> = { ...headers };
        if (contentType !== undefined) sent['content-type'] = contentType;
        if (contentLength === 'exact') sent['content-length'] = String(size);
        else if (contentLength !== undefined) sent['content-length'] = contentLength;
        const res = await call('POST', path, {}, body.bytes ?? body.text, sent);
        statuses.set(res.status, countOf(statuses, res.status) + 1);

        // What the content type says decides first (415), then the declared and real sizes (413).
        const effectiveType = contentType ?? (body.bytes ? '' : 'text/plain;charset=UTF-8');
        const isJson = (JSON_TYPES as readonly string[]).includes(effectiveType);
        const declared = Number(sent['content-length']);
        if (!isJson) {
          expectWellFormed(res, [415]);
          expectProblem(res, 415, '/problems/unsupported-media-type');
        } else if (
          (Number.isFinite(declared) && declared > MAX_JSON_BODY_BYTES) ||
          size > MAX_JSON_BODY_BYTES
        ) {
          expectWellFormed(res, [413]);
          expectProblem(res, 413, '/problems/payload-too-large');
        } else if (body.key !== undefined) {
          // New: 201; the same tracking again (fast-check repeats and shrinks cases): 200.
          expectWellFormed(res, [registeredKeys.has(body.key) ? 200 : 201]);
          registeredKeys.add(body.key);
        } else {
          expectWellFormed(res, [400]);
          expectProblem(res, 400, '/problems/invalid-request');
        }
        if (res.status === 201) {
          const record = res.json as { customerId: string; trackingId: string; state: string };
          expect(record.customerId).toMatch(GUID);
          expect(record.trackingId).toMatch(GUID);
          expect(record.state).toBe('pending');
          expect(res.headers.get('location')).toBe(
            `/api/trackings/${record.customerId}/${record.trackingId}`,
          );
        }
        expect(res.text.length).toBeLessThan(16 * 1024);
      }),
      { numRuns: REGISTER_RUNS },
    );

    await collectGarbage();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    for (const status of [201, 400, 413, 415]) expect(countOf(statuses, status)).toBeGreaterThan(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('request bodies are bounded', () => {
  const BODY_BYTES = 32 * 1024 * 1024;
  const CHUNK_BYTES = 16 * 1024;
  it.each([
    ['declared', true],
    ['undeclared (no Content-Length)', false],
  ])('a 32 MiB body, %s, is refused with 413 without being read whole', async (_, declared) => {
    const { res, bytesPulled } = await invokeStreamed(
      handlers.registerTracking,
      {
        method: 'POST',
        url: '/api/trackings',
        headers: {
          'content-type': 'application/json',
          ...(declared ? { 'content-length': String(BODY_BYTES) } : {}),
        },
      },
      BODY_BYTES,
      CHUNK_BYTES,
    );
    expectProblem(res, 413, '/problems/payload-too-large');
    // Declared too large: refused before a byte is read; undeclared: as soon as it passes the limit.
    expect(bytesPulled).toBeLessThanOrEqual(declared ? CHUNK_BYTES : MAX_JSON_BODY_BYTES + 2 * CHUNK_BYTES);
  });
});
