import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  type RunningSimulators,
} from '../../dev/simulators/index.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../support/app-settings.js';
import { collectGarbage, expectProblem, invokeRaw } from '../support/hostile-http.js';
import { GUID, guid, hostileHeaders, hostileId, pathSegment, queryString } from './arbitraries.js';
import { runs } from './seed.js';

// The run counts are the budget; the time-out only guards against a hang, on a shared, loaded machine.
vi.setConfig({ testTimeout: 180_000 });

// Hostile input against the live lookup and health, through the real handlers with Key Vault,
// Entra ID and Partner Center simulated and Azurite behind them. Run counts are the CI budget.
const LOOKUP_RUNS = runs(3_000);
const HEALTH_RUNS = runs(500);
const OTHER_RUNS = runs(200);

let sims: RunningSimulators;
let getBatchStatus: typeof import('../../functions/getBatchStatus.js').getBatchStatus;
let health: typeof import('../../functions/health.js').health;
let healthDeep: typeof import('../../functions/healthDeep.js').healthDeep;
let openapi: typeof import('../../functions/openapi.js').openapi;
const known: { customerId: string; trackingId: string }[] = [];

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({
    ...trackingStorageSettings(uniqueStorageNames('prop')),
    PARTNER_CENTER_DEADLINE_MS: '5000',
  });
  ({ getBatchStatus } = await import('../../functions/getBatchStatus.js'));
  ({ health } = await import('../../functions/health.js'));
  ({ healthDeep } = await import('../../functions/healthDeep.js'));
  ({ openapi } = await import('../../functions/openapi.js'));
  known.push({ customerId: DOCS_EXAMPLE_CUSTOMER_ID, trackingId: DOCS_EXAMPLE_TRACKING_ID });
  for (const statuses of [['processing'], ['finished'], ['finished_with_errors']]) {
    const batch = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), devices: 2, statuses });
    known.push({ customerId: batch.customerId, trackingId: batch.trackingId });
  }
});

afterAll(async () => {
  await sims?.stop();
});

/** A lookup request: hostile or valid ids (known batches, unknown GUIDs), odd queries and headers. */
const lookupRequest = fc.record({
  ids: fc.oneof(
    { weight: 6, arbitrary: fc.tuple(hostileId, fc.oneof(hostileId, guid)) },
    { weight: 2, arbitrary: fc.tuple(guid, hostileId) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.tuple(guid, guid),
        fc.constantFrom(...[0, 1, 2, 3]).map((i) => {
          const k = known[i]!;
          return [k.customerId.toUpperCase(), k.trackingId] as [string, string];
        }),
      ),
    },
  ),
  query: queryString(['refresh', 'include', 'top', 'code']),
  headers: hostileHeaders,
  method: fc.constantFrom('GET', 'get'),
});

describe('the live lookup under hostile input', () => {
  it(`never answers 5xx, answers every 4xx as problem+json and calls nobody for invalid ids (${LOOKUP_RUNS} requests)`, async () => {
    await collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(lookupRequest, async ({ ids: [customerId, trackingId], query, headers, method }) => {
        const upstreamBefore = sims.partnerCenter.counters.total;
        const vaultBefore = sims.keyVault.counters.requests;
        const res = await invokeRaw(
          getBatchStatus,
          {
            method,
            url: `/api/customers/${pathSegment(customerId)}/batchJobStatus/${pathSegment(trackingId)}${query}`,
            params: { customerId, trackingId },
            headers,
          },
          'getBatchStatus',
        );
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);

        expect(res.status).toBeLessThan(500);
        expect(res.headers.get('ms-correlationid')).toMatch(GUID);
        const given = headers['ms-correlationid']?.trim();
        if (given && GUID.test(given)) expect(res.headers.get('ms-correlationid')).toBe(given.toLowerCase());

        if (!GUID.test(customerId) || !GUID.test(trackingId)) {
          expectProblem(res, 400, '/problems/invalid-request');
          expect(sims.partnerCenter.counters.total).toBe(upstreamBefore);
          expect(sims.keyVault.counters.requests).toBe(vaultBefore);
        } else {
          expect([200, 404]).toContain(res.status);
          if (res.status === 404) expectProblem(res, 404, '/problems/batch-not-found');
        }
        // The answer never echoes a huge input back.
        expect(res.text.length).toBeLessThan(8 * 1024);
      }),
      { numRuns: LOOKUP_RUNS },
    );

    await collectGarbage();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    // Every request was answered and forgotten: the heap after the run is where it started, give or take.
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    expect(statuses.get(400)).toBeGreaterThan(LOOKUP_RUNS / 2);
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(404)).toBeGreaterThan(0);
  });

  it(`answers health 200 whatever comes with it, or redirects ?deep to the keyed check (${HEALTH_RUNS} requests)`, async () => {
    await fc.assert(
      fc.asyncProperty(queryString(['deep', 'verbose']), hostileHeaders, async (query, headers) => {
        const res = await invokeRaw(health, { method: 'GET', url: `/api/health${query}`, headers }, 'health');
        expect(res.headers.get('cache-control')).toBe('no-store');
        if (new URLSearchParams(query).has('deep') && res.status === 307) {
          expect(res.headers.get('location')).toMatch(/\/api\/health\/deep(\?|$)/);
        } else {
          expect(res.status).toBe(200);
          expect(res.json).toMatchObject({ status: 'ok' });
        }
      }),
      { numRuns: HEALTH_RUNS },
    );
  });

  it(`serves the OpenAPI document and the deep health check whatever comes with them, never a 500 (${OTHER_RUNS} requests)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        queryString(['deep', 'format']),
        hostileHeaders,
        async (deep, query, headers) => {
          const res = deep
            ? await invokeRaw(
                healthDeep,
                { method: 'GET', url: `/api/health/deep${query}`, headers },
                'healthDeep',
              )
            : await invokeRaw(
                openapi,
                { method: 'GET', url: `/api/openapi.json${query}`, headers },
                'openapi',
              );
          expect(deep ? [200, 503] : [200]).toContain(res.status);
          expect(res.json).toBeTypeOf('object');
          expect(res.text).not.toMatch(/\n\s+at |AccountKey=/);
        },
      ),
      { numRuns: OTHER_RUNS },
    );
  });
});
