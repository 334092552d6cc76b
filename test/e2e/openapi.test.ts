import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LocalApp } from '../../dev/serve.js';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  type RunningSimulators,
} from '../../dev/simulators/index.js';
import { deepHealthReportSchema, unhealthyProblemSchema } from '../../shared/health/deep-health-schema.js';
import { livenessReportSchema } from '../../shared/health/liveness-schema.js';
import { problemSchema } from '../../shared/http/problem-schema.js';
import { MAX_JSON_BODY_BYTES } from '../../shared/http/request-body.js';
import { documentedSchemas, openApiDocumentSchema } from '../../shared/openapi/document.js';
import type { OpenApiDocument } from '../../shared/openapi/objects.js';
import { batchUploadDetailsSchema } from '../../shared/partner-center/model.js';
import {
  trackingListSchema,
  trackingRecordSchema,
  trackingWithDevicesSchema,
} from '../../shared/trackings/model.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import {
  checkResponse,
  dereferenceInDocument,
  dereferenceStandalone,
  findOperation,
  type Verdict,
} from '../unit/openapi/conformance.js';

// Every operation of the served OpenAPI document, called over HTTP on the local host (the built
// function modules, Azurite, the simulators), with function keys and Entra ID caller
// authentication switched on; every answer is checked against the document that the app serves.

const FUNCTION_KEY = `openapi-e2e-${crypto.randomUUID()}`;
const APP_ID_URI = 'api://8d2f4b6a-1c3e-4a5b-9d7f-2e4c6a8b0d1f';
const ROLE = 'DeviceBatch.Read';
const TOOL = { clientId: 'c4a1e2f3-5b6d-4e7f-8a9b-0c1d2e3f4a5b', clientSecret: 'tool~openapi-e2e' };
const ROLELESS_TOOL = 'd5b2f3a4-6c7e-4f80-9bac-1d2e3f4a5b6c';

/** The zod schemas the app answers with, by the id the document gives them. */
const SOURCE_SCHEMAS: Record<string, z.ZodType> = {
  BatchUploadDetails: batchUploadDetailsSchema,
  Tracking: trackingRecordSchema,
  TrackingWithDevices: trackingWithDevicesSchema,
  TrackingList: trackingListSchema,
  Problem: problemSchema,
  LivenessReport: livenessReportSchema,
  DeepHealthReport: deepHealthReportSchema,
  UnhealthyProblem: unhealthyProblemSchema,
  OpenApiDocument: openApiDocumentSchema,
};

let app: TestApp;
let sims: RunningSimulators;
let local: LocalApp;
let api: string;
let served: OpenApiDocument;
let token: string;
let rolelessToken: string;
const exercised = new Map<string, Set<number>>();

beforeAll(async () => {
  app = await startTestApp({
    tag: 'oa',
    functionKey: FUNCTION_KEY,
    beforeStart: ({ entra, app: { tenantId } }) => {
      entra.registerApplication({ tenantId, ...TOOL, secrets: [TOOL.clientSecret], roles: [ROLE] });
      entra.registerApplication({ tenantId, clientId: ROLELESS_TOOL, secrets: ['unused'] });
    },
    env: (s) => ({
      PARTNER_CENTER_DEADLINE_MS: '2500',
      PARTNER_CENTER_MAX_RETRIES: '1',
      PARTNER_CENTER_MAX_RETRY_AFTER_MS: '2000',
      CALLER_AUTH_AUDIENCE: APP_ID_URI,
      CALLER_AUTH_TENANT_ID: s.app.tenantId,
      CALLER_AUTH_REQUIRED_ROLE: ROLE,
    }),
  });
  ({ sims, local, api } = app);
  token = await sims.entra.issueToken({ audience: APP_ID_URI, clientId: TOOL.clientId });
  rolelessToken = await sims.entra.issueToken({ audience: APP_ID_URI, clientId: ROLELESS_TOOL });
  // Every test checks answers against the served document, whichever test runs first.
  served = (await (await fetch(`${api}/openapi.json`)).json()) as OpenApiDocument;
});

afterAll(async () => {
  await app?.stop();
});

// After every test of the file, whatever order they ran in: together they exercised every
// documented operation.
afterAll(() => {
  const documented = Object.values(served.paths).flatMap((item) =>
    Object.values(item).map((operation) => operation!.operationId),
  );
  expect([...exercised.keys()].sort()).toEqual([...documented].sort());
});

interface CallOptions {
  body?: unknown;
  /** Sent as is, with `contentType` (default JSON). */
  rawBody?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** How the caller proves who it is; default: key header and a bearer token with the role. */
  auth?: 'key' | 'query-key' | 'key-no-bearer' | 'key-roleless' | 'none';
  /** `manual` to see a redirect itself rather than where it leads. */
  redirect?: 'follow' | 'manual';
}

interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
  verdict: Verdict;
}

async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const auth = options.auth ?? 'key';
  const headers: Record<string, string> = { ...options.headers };
  if (auth === 'key' || auth === 'key-no-bearer' || auth === 'key-roleless') {
    headers['x-functions-key'] = FUNCTION_KEY;
  }
  if (auth === 'key' || auth === 'query-key') headers.Authorization = `Bearer ${token}`;
  if (auth === 'key-roleless') headers.Authorization = `Bearer ${rolelessToken}`;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
  const url = new URL(`${api}${path}`);
  if (auth === 'query-key') url.searchParams.set('code', FUNCTION_KEY);

  const res = await fetch(url, { method, headers, body, redirect: options.redirect ?? 'follow' });
  const text = await res.text();
  const verdict = served
    ? checkResponse(served, {
        method,
        path: url.pathname.slice('/api'.length),
        status: res.status,
        headers: res.headers,
        body: text,
      })
    : { violations: [] };
  if (verdict.operationId) {
    const statuses = exercised.get(verdict.operationId) ?? new Set<number>();
    statuses.add(res.status);
    exercised.set(verdict.operationId, statuses);
  }
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined, verdict };
}

const checkedComponents = new Set<string>();

/**
 * The answer matches the served document (status, headers, content type, body by the document's
 * JSON Schema); and its body also passes the zod schema the app builds it from, which is the very
 * schema the served component was generated from.
 */
function expectConforms(answer: Answer, status: number, knownGaps: string[] = []): void {
  expect(answer.status).toBe(status);
  expect(answer.verdict.violations).toEqual(knownGaps);
  const id = answer.verdict.schemaId;
  if (id === undefined) {
    expect(answer.json).toBeUndefined();
    return;
  }
  const source = SOURCE_SCHEMAS[id];
  expect(source, `a source schema for ${id}`).toBeDefined();
  // Parsing must give the body back unchanged: zod drops unknown keys of strict objects.
  expect(source!.parse(answer.json)).toEqual(answer.json);
  if (!checkedComponents.has(id)) {
    const named = documentedSchemas.find((entry) => entry.id === id)!;
    const fresh = z.toJSONSchema(source!, { target: 'draft-2020-12', io: named.side }) as Record<
      string,
      unknown
    >;
    expect(dereferenceInDocument(served, served.components.schemas[id]), id).toEqual(
      dereferenceStandalone(fresh),
    );
    checkedComponents.add(id);
  }
}

function newBatch(status: 'processing' | 'finished' = 'processing') {
  return sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: [{ serialNumber: 'SN-OK-1' }, { serialNumber: 'SN-808', errorCode: '808' }],
    finalStatus: 'finished',
    statuses: [status],
    advanceEveryCalls: 0,
  });
}

const lookupPath = (customerId: string, trackingId: string) =>
  `/customers/${customerId}/batchJobStatus/${trackingId}`;

describe('the served OpenAPI document', () => {
  it('is served anonymously at /api/openapi.json, as generated, and conforms to itself', async () => {
    const res = await fetch(`${api}/openapi.json`);
    expect(res.status).toBe(200);
    const text = await res.text();
    served = JSON.parse(text) as OpenApiDocument;
    const { openApiDocument } = await import('../../shared/openapi/document.js');
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    const verdict = checkResponse(served, {
      method: 'GET',
      path: '/openapi.json',
      status: res.status,
      headers: res.headers,
      body: text,
    });
    expect(verdict.violations).toEqual([]);
    expectConforms(await call('GET', '/openapi.json', { auth: 'none' }), 200);
  });
});

describe('every answer of the app matches the document', () => {
  it('getBatchStatus: live, then from memory, then refreshed; the caller correlation id is echoed', async () => {
    const correlationId = crypto.randomUUID();
    const live = await call('GET', lookupPath(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID), {
      headers: { 'MS-CorrelationId': correlationId.toUpperCase() },
    });
    expectConforms(live, 200);
    expect(live.headers.get('X-Result-Source')).toBe('live');
    expect(live.headers.get('MS-RequestId')).not.toBeNull();
    expect(live.headers.get('MS-CorrelationId')).toBe(correlationId);

    const remembered = await call(
      'GET',
      lookupPath(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID).toLowerCase(),
    );
    expectConforms(remembered, 200);
    expect(remembered.headers.get('X-Result-Source')).toBe('memory');

    const refreshed = await call(
      'GET',
      `${lookupPath(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID)}?refresh=true`,
      { auth: 'query-key' },
    );
    expectConforms(refreshed, 200);
    expect(refreshed.headers.get('X-Result-Source')).toBe('live');
  });

  it('getBatchStatus: 400 for malformed ids, 404 for an unknown batch', async () => {
    const bad = await call('GET', lookupPath('not-a-guid', DOCS_EXAMPLE_TRACKING_ID));
    expectConforms(bad, 400);
    expect(bad.json).toMatchObject({ type: '/problems/invalid-request' });

    const unknown = await call('GET', lookupPath(crypto.randomUUID(), crypto.randomUUID()));
    expectConforms(unknown, 404);
    expect(unknown.json).toMatchObject({ type: '/problems/batch-not-found', upstream: { status: 404 } });
  });

  it('getBatchStatus: 502, 503 with Retry-After and 504 when Partner Center fails', async () => {
    const failing = newBatch();
    sims.partnerCenter.inject({ kind: 'status', status: 500 }, { trackingId: failing.trackingId });
    const upstreamError = await call('GET', lookupPath(failing.customerId, failing.trackingId));
    expectConforms(upstreamError, 502);
    expect(upstreamError.json).toMatchObject({ type: '/problems/upstream-error' });

    const throttled = newBatch();
    // 3 s, above the client's 2 s limit (so the caller gets the 503) and short: every sweep of
    // the app honours it too (the shared budget), the getTracking case's sweep included.
    sims.partnerCenter.inject(
      { kind: 'throttle', retryAfterSeconds: 3 },
      { trackingId: throttled.trackingId },
    );
    const busy = await call('GET', lookupPath(throttled.customerId, throttled.trackingId));
    expectConforms(busy, 503);
    expect(busy.headers.get('Retry-After')).toBe('3');

    const slow = newBatch();
    sims.partnerCenter.inject({ kind: 'latency', ms: 10_000 }, { trackingId: slow.trackingId });
    const late = await call('GET', lookupPath(slow.customerId, slow.trackingId));
    expectConforms(late, 504);
    expect(late.json).toMatchObject({ type: '/problems/upstream-timeout' });
    sims.partnerCenter.clearFaults();
  });

  it('registerTracking: 201 with Location, 200 when already tracked; 400, 413 and 415 problems', async () => {
    const batch = newBatch();
    const created = await call('POST', '/trackings', {
      body: { location: batch.location, label: 'openapi' },
    });
    expectConforms(created, 201);
    expect(created.headers.get('Location')).toBe(`/api/trackings/${batch.customerId}/${batch.trackingId}`);

    const again = await call('POST', '/trackings', {
      body: { customerId: batch.customerId, trackingId: batch.trackingId },
    });
    expectConforms(again, 200);

    expectConforms(
      await call('POST', '/trackings', { body: { location: '/customers/x/batchJobStatus/y' } }),
      400,
    );
    expectConforms(
      await call('POST', '/trackings', { rawBody: '{"location":', contentType: 'application/json' }),
      400,
    );
    const tooLarge = await call('POST', '/trackings', {
      body: { location: batch.location, label: 'x'.repeat(MAX_JSON_BODY_BYTES) },
    });
    expectConforms(tooLarge, 413);
    const notJson = await call('POST', '/trackings', { rawBody: 'location=x', contentType: 'text/plain' });
    expectConforms(notJson, 415);
  });

  it('listTrackings: a page of trackings; 400 for a bad query', async () => {
    const batch = newBatch();
    expectConforms(await call('POST', '/trackings', { body: { location: batch.location } }), 201);
    const list = await call('GET', `/trackings?customerId=${batch.customerId}&state=pending&top=10`);
    expectConforms(list, 200);
    expect(list.json).toMatchObject({ items: [{ trackingId: batch.trackingId, state: 'pending' }] });
    expectConforms(await call('GET', '/trackings?top=0'), 400);
  });

  it('getTracking: the record, with devices once terminal; 400 and 404 problems', async () => {
    const batch = newBatch('finished');
    expectConforms(await call('POST', '/trackings', { body: { location: batch.location } }), 201);
    expect((await local.host.invoke('sweepPendingTrackings')).status).toBe('succeeded');

    const path = `/trackings/${batch.customerId}/${batch.trackingId}`;
    const plain = await call('GET', path);
    expectConforms(plain, 200);
    expect(plain.json).toMatchObject({ state: 'finished', summary: { devices: 2 } });
    const withDevices = await call('GET', `${path}?include=devices`);
    expectConforms(withDevices, 200);
    expect((withDevices.json as { devicesStatus: unknown[] }).devicesStatus).toHaveLength(2);

    expectConforms(await call('GET', '/trackings/nope/also-nope'), 400);
    expectConforms(await call('GET', `/trackings/${crypto.randomUUID()}/${crypto.randomUUID()}`), 404);
  });

  it('cancelTracking: 204 without a body; 404 for an unknown tracking', async () => {
    const batch = newBatch();
    expectConforms(await call('POST', '/trackings', { body: { location: batch.location } }), 201);
    expectConforms(await call('DELETE', `/trackings/${batch.customerId}/${batch.trackingId}`), 204);
    expectConforms(await call('DELETE', `/trackings/${crypto.randomUUID()}/${crypto.randomUUID()}`), 404);
  });

  it('getHealth: anonymous, the liveness report; deep=true redirects to the deep check', async () => {
    expectConforms(await call('GET', '/health', { auth: 'none' }), 200);
    const redirect = await call('GET', '/health?deep=true&code=abc', { auth: 'none', redirect: 'manual' });
    expectConforms(redirect, 307);
    expect(redirect.headers.get('Location')).toBe('/api/health/deep?code=abc');
  });

  it('getDeepHealth: the report when every dependency answers; 401 without the key', async () => {
    const healthy = await call('GET', '/health/deep');
    expectConforms(healthy, 200);
    expect(healthy.json).toMatchObject({ status: 'healthy' });
    expect((await call('GET', '/health/deep', { auth: 'none' })).status).toBe(401);
  });

  it('caller authentication: 401 without a bearer token, 403 without the role (problem+json)', async () => {
    const noToken = await call('GET', '/trackings', { auth: 'key-no-bearer' });
    expectConforms(noToken, 401);
    expect(noToken.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
    const noRole = await call('GET', lookupPath(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID), {
      auth: 'key-roleless',
    });
    expectConforms(noRole, 403);
  });

  it('function keys: the host refuses a call without one exactly where the document asks for one', async () => {
    for (const [path, item] of Object.entries(served.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method !== 'get') continue;
        const concrete = path.replace(/\{[^}]+\}/g, () => crypto.randomUUID());
        const res = await fetch(`${api}${concrete}`);
        await res.text();
        const secured = operation!.security.length > 0;
        // The refusal is the Functions host's, before the app runs (Azure sends it with no body),
        // so only its status is the document's business.
        if (secured) expect(res.status, `${method} ${path}`).toBe(401);
        else expect(res.status, `${method} ${path}`).not.toBe(401);
        expect(operation!.responses[String(res.status)], `${method} ${path} ${res.status}`).toBeDefined();
        expect(findOperation(served, method, concrete)?.operation.operationId).toBe(operation!.operationId);
      }
    }
  });
});
