import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type HttpFunctionRegistration,
  installFunctionsCore,
  type RegisteredFunction,
} from '../../../dev/host/functions-core.js';
import { RouteTable } from '../../../dev/host/route-template.js';
import { livenessReport } from '../../../shared/health/liveness.js';
import { livenessReportSchema } from '../../../shared/health/liveness-schema.js';
import { type ProblemKind, problem, problemTypes } from '../../../shared/http/problem.js';
import { problemSchema } from '../../../shared/http/problem-schema.js';
import {
  buildOpenApiDocument,
  documentedSchemas,
  openApiDocument,
} from '../../../shared/openapi/document.js';
import { HTTP_METHODS, type HttpMethod, type OpenApiDocument } from '../../../shared/openapi/objects.js';
import { batchUploadDetailsSchema } from '../../../shared/partner-center/model.js';
import { trackingRecordSchema } from '../../../shared/trackings/model.js';
import { invokeHttp } from '../../support/invoke.js';
import {
  checkResponse,
  collectRefs,
  dereferenceInDocument,
  dereferenceStandalone,
  documentValidator,
  resolvePointer,
} from './conformance.js';

const doc = openApiDocument();

function operations(document: OpenApiDocument) {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => {
      const operation = item[method];
      return operation ? [{ path, method, operation }] : [];
    }),
  );
}

const GUID_A = '47021739-3426-40bf-9601-61b4b6d7c793';
const GUID_B = '0127ed8e-ff72-4983-a3d8-e8d8bd378932';
const record = {
  customerId: GUID_A,
  trackingId: GUID_B,
  state: 'pending',
  registeredAt: '2025-01-01T00:00:00.000Z',
  nextCheckAt: '2025-01-01T00:00:00.000Z',
  checks: 0,
};

describe('the OpenAPI document is valid OpenAPI 3.1', () => {
  it('declares OpenAPI 3.1, the JSON Schema dialect, the app and the /api server', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: '0.1.0' });
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/api' })]);
    // What is served is plain JSON: nothing is lost in serialisation.
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('resolves every $ref inside the document', () => {
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(20);
    const broken = refs.filter(({ ref }) => resolvePointer(doc, ref) === undefined);
    expect(broken).toEqual([]);
  });

  it('declares every path parameter, as required, on every operation of its path (and no others)', () => {
    for (const { path, method, operation } of operations(doc)) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (operation.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual([...inPath].sort());
      for (const p of declared) expect(p.required, `${method} ${path} ${p.name}`).toBe(true);
      const names = (operation.parameters ?? []).map((p) => `${p.in}:${p.name.toLowerCase()}`);
      expect(new Set(names).size, `${method} ${path}: duplicate parameters`).toBe(names.length);
    }
  });

  it('gives every operation a unique operationId and documented responses', () => {
    const ids = operations(doc).map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, operation } of operations(doc)) {
      const statuses = Object.keys(operation.responses);
      expect(statuses.length, `${method} ${path}`).toBeGreaterThan(0);
      expect(
        statuses.some((s) => s.startsWith('2')),
        `${method} ${path} has a success`,
      ).toBe(true);
      for (const status of statuses) {
        expect(status).toMatch(/^[1-5]\d\d$/);
        expect(operation.responses[status]!.description).not.toBe('');
      }
    }
  });

  it('names only defined security schemes; health and the document itself are anonymous', () => {
    const schemes = Object.keys(doc.components.securitySchemes);
    expect(doc.components.securitySchemes).toMatchObject({
      functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
      functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
      entraBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    for (const { path, method, operation } of operations(doc)) {
      for (const requirement of operation.security) {
        for (const name of Object.keys(requirement)) expect(schemes, `${method} ${path}`).toContain(name);
      }
      if (path === '/health' || path === '/openapi.json') expect(operation.security).toEqual([]);
      else
        expect(operation.security).toEqual(
          expect.arrayContaining([{ functionKey: [] }, { functionKeyQuery: [] }]),
        );
    }
  });

  it('keeps components clean: OpenAPI names, no per-schema dialect or $id', () => {
    for (const [id, schema] of Object.entries(doc.components.schemas)) {
      expect(id).toMatch(/^[a-zA-Z0-9.\-_]+$/);
      expect(schema).not.toHaveProperty('$schema');
      expect(schema).not.toHaveProperty('$id');
    }
  });

  it('is built once and shared, and cannot be changed by a caller', () => {
    expect(openApiDocument()).toBe(doc);
    expect(Object.isFrozen(doc.paths)).toBe(true);
    expect(buildOpenApiDocument()).toEqual(doc);
  });
});

describe('the document is generated from the schemas the code uses', () => {
  it('uses each schema under its meta id, and its components mean exactly what the zod schemas say', () => {
    for (const { id, schema, side } of documentedSchemas) {
      const own = z.globalRegistry.get(schema)?.id;
      if (own !== undefined) expect(id).toBe(own);
      const standalone = z.toJSONSchema(schema, { target: 'draft-2020-12', io: side }) as Record<
        string,
        unknown
      >;
      expect(dereferenceInDocument(doc, doc.components.schemas[id]), id).toEqual(
        dereferenceStandalone(standalone),
      );
    }
  });

  it('lists every problem type of the app, so tools can switch on it', () => {
    const listed = (doc.components.schemas.ProblemType as { enum?: string[] }).enum;
    expect(listed).toEqual(Object.values(problemTypes).map((p) => p.type));
    expect((doc.components.schemas.Problem as { properties: { type: unknown } }).properties.type).toEqual({
      $ref: '#/components/schemas/ProblemType',
    });
  });

  it('describes every problem the app builds (the schema accepts all kinds, strictly)', () => {
    const validator = documentValidator(doc, { $ref: '#/components/schemas/Problem' });
    for (const kind of Object.keys(problemTypes) as ProblemKind[]) {
      const value = problem(kind, {
        detail: 'd',
        correlationId: GUID_A,
        errors: ['field: wrong'],
        upstream: { status: 429, code: '429', description: 'slow down', requestId: GUID_B },
      });
      expect(problemSchema.parse(value)).toEqual(value);
      expect(validator.safeParse(value).success, kind).toBe(true);
    }
  });

  it('lists each problem response example under its own status, valid against the Problem schema', () => {
    const validator = documentValidator(doc, { $ref: '#/components/schemas/Problem' });
    let examples = 0;
    for (const { operation } of operations(doc)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const media = response.content?.['application/problem+json'];
        if (!media) continue;
        expect(status).toMatch(/^[45]/);
        for (const example of Object.values(media.examples ?? {})) {
          examples++;
          expect((example.value as { status: number }).status).toBe(Number(status));
          expect(validator.safeParse(example.value).success).toBe(true);
        }
        if (status === '503') expect(response.headers?.['Retry-After']?.required).toBe(true);
      }
    }
    expect(examples).toBeGreaterThan(30);
  });

  it("describes health's body as livenessReport() answers it", () => {
    const report = livenessReport();
    expect(livenessReportSchema.parse(report)).toEqual(report);
    expect(
      documentValidator(doc, { $ref: '#/components/schemas/LivenessReport' }).safeParse(report).success,
    ).toBe(true);
  });
});

describe('the committed contract', () => {
  // Client generators and other teams read docs/openapi.json; a change of what is served (a field,
  // a status, a description, a component name) has to be rewritten there and seen in review.
  it('is the document the app serves (npm run openapi rewrites docs/openapi.json)', () => {
    const committed = JSON.parse(
      readFileSync(fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url)), 'utf8'),
    );
    expect(doc, 'the served document differs from docs/openapi.json: run npm run openapi').toStrictEqual(
      committed,
    );
  });
});

describe('the conformance check can fail', () => {
  const headers = (values: Record<string, string>) => new Headers(values);
  const ok = {
    method: 'GET',
    path: `/trackings/${GUID_A}/${GUID_B}`,
    status: 200,
    headers: headers({
      'Content-Type': 'application/json; charset=utf-8',
      'MS-CorrelationId': GUID_A,
      'Cache-Control': 'no-store',
    }),
    body: JSON.stringify(record),
  };

  it('accepts a conforming answer', () => {
    expect(checkResponse(doc, ok)).toMatchObject({ operationId: 'getTracking', violations: [] });
  });

  it.each([
    ['an unknown state', { ...record, state: 'done' }],
    ['a missing field', { ...record, checks: undefined }],
    ['an undocumented field', { ...record, secret: 'x' }],
    ['a time that is not ISO 8601 UTC', { ...record, registeredAt: '2025-01-01 00:00' }],
    ['an upper-case id', { ...record, customerId: GUID_A.toUpperCase() }],
  ])('refuses a body with %s', (_, body) => {
    expect(checkResponse(doc, { ...ok, body: JSON.stringify(body) }).violations).toEqual([
      expect.stringMatching(/^getTracking 200: body /),
    ]);
  });

  it('refuses an undocumented status, a missing required header, a wrong content type', () => {
    expect(checkResponse(doc, { ...ok, status: 418 }).violations[0]).toMatch(/status not documented/);
    const noCorrelation = headers({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    expect(checkResponse(doc, { ...ok, headers: noCorrelation }).violations).toEqual([
      expect.stringMatching(/MS-CorrelationId is missing/),
    ]);
    const text = headers({ 'Content-Type': 'text/plain', 'MS-CorrelationId': GUID_A, 'Cache-Control': 'x' });
    expect(checkResponse(doc, { ...ok, headers: text }).violations[0]).toMatch(/content type text\/plain/);
    expect(checkResponse(doc, { ...ok, method: 'PUT' }).violations[0]).toMatch(/no documented operation/);
  });

  it('refuses a problem whose type is not listed for its status, or that contradicts the response', () => {
    const notFound = problem('notFound', { detail: 'd', correlationId: GUID_A });
    const answer = (body: unknown, status = 404) => ({
      ...ok,
      status,
      headers: headers({
        'Content-Type': 'application/problem+json',
        'MS-CorrelationId': GUID_A,
        'Cache-Control': 'no-store',
      }),
      body: JSON.stringify(body),
    });
    expect(checkResponse(doc, answer(notFound)).violations).toEqual([]);
    const batchNotFound = problem('batchNotFound', { detail: 'd', correlationId: GUID_A });
    expect(checkResponse(doc, answer(batchNotFound)).violations).toEqual([
      expect.stringMatching(/problem type \/problems\/batch-not-found is not listed/),
    ]);
    expect(checkResponse(doc, answer({ ...notFound, correlationId: GUID_B })).violations).toEqual([
      expect.stringMatching(/differs from the header/),
    ]);
    expect(
      checkResponse(doc, answer({ ...notFound, type: 'about:blank' })).violations.length,
    ).toBeGreaterThan(0);
  });

  it('validates with the document, not with the code: a changed document changes the verdict', () => {
    const changed = structuredClone(doc) as OpenApiDocument;
    (changed.components.schemas.TrackingState as { enum: string[] }).enum = ['finished'];
    expect(checkResponse(changed, ok).violations).toEqual([expect.stringMatching(/state/)]);
    // The source schemas are untouched by that.
    expect(trackingRecordSchema.safeParse(record).success).toBe(true);
    expect(batchUploadDetailsSchema.safeParse({ status: 'x', extra: 1 }).success).toBe(true);
  });
});

describe('the document matches the functions the app registers', () => {
  let http: HttpFunctionRegistration[];
  let all: readonly RegisteredFunction[];

  beforeAll(async () => {
    // Before any function module: @azure/functions looks for its core module once.
    const registry = installFunctionsCore();
    const folder = fileURLToPath(new URL('../../../functions/', import.meta.url));
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.ts'))) {
      await import(pathToFileURL(`${folder}${file}`).href);
    }
    all = registry.functions;
    http = all.filter((f): f is HttpFunctionRegistration => f.kind === 'http');
  });

  /** A concrete request path for a documented path (the values are valid for every parameter). */
  const concrete = (path: string) => path.replace(/\{[^}]+\}/g, () => crypto.randomUUID());

  it("finds the app's HTTP functions, the document among them", () => {
    expect(http.map((f) => f.name)).toEqual(
      expect.arrayContaining(['getBatchStatus', 'health', 'openapi', 'registerTracking', 'getTracking']),
    );
    expect(all.some((f) => f.kind === 'timer')).toBe(true);
  });

  it('serves the document through the openapi function, with the correlation id', async () => {
    const fn = http.find((f) => f.name === 'openapi')!;
    const res = await invokeHttp(fn.handler as Parameters<typeof invokeHttp>[0], {
      url: '/api/openapi.json',
      headers: { 'MS-CorrelationId': GUID_A.toUpperCase() },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(res.headers.get('MS-CorrelationId')).toBe(GUID_A);
    expect(res.json).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('routes every documented operation, as the host would, to a function with the same parameters', () => {
    const routes = new RouteTable<(typeof http)[number]>();
    for (const fn of http) routes.add(fn.effectiveRoute, fn.methods, fn);
    for (const { path, method, operation } of operations(doc)) {
      const match = routes.match(method, concrete(path).slice(1));
      expect(match.kind, `${method} ${path}`).toBe('matched');
      if (match.kind !== 'matched') continue;
      const { target: fn, params } = match;
      // The catch-all fallback answers only 404 and 405: no documented operation may land there.
      expect(isCatchAll(fn.effectiveRoute), `${method} ${path} → ${fn.name}`).toBe(false);
      expect(Object.keys(params).sort(), `${method} ${path}`).toEqual(
        [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort(),
      );
      const anonymous = operation.security.length === 0;
      expect(fn.authLevel, `${method} ${path}`).toBe(anonymous ? 'anonymous' : 'function');
    }
  });

  it('names each tracking function after the operation it serves', () => {
    const trackingOperations = operations(doc)
      .filter(({ path }) => path.startsWith('/trackings'))
      .map(({ operation }) => operation.operationId);
    expect(trackingOperations.sort()).toEqual([
      'cancelTracking',
      'getTracking',
      'listTrackings',
      'registerTracking',
    ]);
    for (const name of trackingOperations) expect(http.map((f) => f.name)).toContain(name);
  });

  it("documents every function's every method under one of its route's forms", () => {
    const served = new Set<string>();
    for (const fn of http.filter((f) => !isCatchAll(f.effectiveRoute))) {
      const forms = routeForms(fn.effectiveRoute);
      for (const method of fn.methods.map((m) => m.toLowerCase() as HttpMethod)) {
        const documented = forms.filter((form) => doc.paths[form]?.[method] !== undefined);
        expect(documented, `${fn.name} ${method} ${fn.effectiveRoute}`).not.toEqual([]);
        for (const form of forms) served.add(`${method} ${form}`);
      }
    }
    // …and nothing documented that no function serves.
    for (const { path, method } of operations(doc)) expect(served).toContain(`${method} ${path}`);
  });
});

/** A route ending in `{*rest}`: it takes what no more specific route does. */
function isCatchAll(route: string): boolean {
  return /\{\*/.test(route);
}

/**
 * The paths a route template answers, in the document's notation: constraints and defaults
 * dropped, and each trailing run of optional parameters either present or not
 * (`trackings/{customerId?}/{trackingId?}` → `/trackings`, `/trackings/{customerId}`,
 * `/trackings/{customerId}/{trackingId}`).
 */
function routeForms(route: string): string[] {
  const segments = route.split('/').filter((s) => s !== '');
  const forms: string[] = [];
  const plain = segments.map((s) => s.replace(/\{\*?([^}:=?]+)[^}]*\}/g, '{$1}'));
  const firstOptional = segments.findIndex((s) => /\?\}$|=[^}]*\}$/.test(s));
  const required = firstOptional === -1 ? segments.length : firstOptional;
  for (let length = required; length <= segments.length; length++) {
    forms.push(`/${plain.slice(0, length).join('/')}`);
  }
  return forms;
}

describe('routeForms', () => {
  it('expands trailing optional parameters and drops constraints', () => {
    expect(routeForms('trackings/{customerId?}/{trackingId?}')).toEqual([
      '/trackings',
      '/trackings/{customerId}',
      '/trackings/{customerId}/{trackingId}',
    ]);
    expect(routeForms('customers/{customerId:guid}/batchJobStatus/{trackingId}')).toEqual([
      '/customers/{customerId}/batchJobStatus/{trackingId}',
    ]);
  });
});
