import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { PartnerCenterFault, RunningSimulators } from '../../dev/simulators/index.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../support/app-settings.js';
import {
  type BatchKey,
  type HttpInvocation,
  invokeGetTracking,
  invokeLookup,
  invokeRegister,
} from '../support/invoke.js';
import { resetSimulators, theOneRequestId } from '../support/simulators.js';

// The upstream fault matrix as a caller of the live lookup sees it, through the real handler with
// Key Vault, Entra ID and Partner Center simulated and Azurite behind it. Every tracked batch must
// still end in its right final state, stored once.
const DEADLINE_MS = 2_500;

let sims: RunningSimulators;
let getBatchStatus: typeof import('../../functions/getBatchStatus.js').getBatchStatus;
let registerTracking: typeof import('../../functions/registerTracking.js').registerTracking;
let getTracking: typeof import('../../functions/getTracking.js').getTracking;
const names = uniqueStorageNames('lf');

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({
    ...trackingStorageSettings(names),
    PARTNER_CENTER_DEADLINE_MS: String(DEADLINE_MS),
    PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: '1000',
    PARTNER_CENTER_MAX_RETRIES: '2',
    PARTNER_CENTER_MAX_RETRY_AFTER_MS: '2000',
  });
  ({ getBatchStatus } = await import('../../functions/getBatchStatus.js'));
  ({ registerTracking } = await import('../../functions/registerTracking.js'));
  ({ getTracking } = await import('../../functions/getTracking.js'));
  // Warm the credential so that each case counts Partner Center calls only.
  const warm = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), statuses: ['processing'] });
  expect((await lookup(warm)).status).toBe(200);
});

afterAll(async () => {
  await sims?.stop();
});

beforeEach(() => {
  resetSimulators(sims);
});

function lookup(batch: BatchKey): Promise<HttpInvocation> {
  return invokeLookup(getBatchStatus, batch);
}

/** A finished batch upstream, registered as a tracking here, so the lookup writes its result through. */
async function trackedBatch(finalStatus: 'finished' | 'finished_with_errors' = 'finished') {
  const batch = sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: [{ serialNumber: 'SN-1' }, { serialNumber: 'SN-2', errorCode: '806' }],
    statuses: [finalStatus],
  });
  const res = await invokeRegister(registerTracking, { location: batch.location });
  expect(res.status).toBe(201);
  return batch;
}

function expectProblem(res: HttpInvocation, status: number, type: string): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  const body = res.json as Record<string, unknown>;
  expect(body).toMatchObject({ type, status, title: expect.any(String), detail: expect.any(String) });
  expect(body.correlationId).toBe(res.headers.get('MS-CorrelationId'));
  expect(res.text).not.toMatch(/\n\s+at |node:internal/);
  // A 5xx is logged (as a warning: the cause is upstream, not a bug here), never as an internal error.
  if (status >= 500) expect(res.logs.some((l) => l.message.includes(`${status} ${type}`))).toBe(true);
  expect(res.logs.some((l) => l.message.includes('/problems/internal'))).toBe(false);
  return body;
}

/** The tracking ended in its final state with exactly one stored result, served without asking again. */
async function expectFinishedOnce(batch: BatchKey, finalStatus: string): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString'));
  const blobs: string[] = [];
  for await (const blob of service
    .getContainerClient(names.container)
    .listBlobsFlat({ prefix: `${batch.customerId}/` }))
    blobs.push(blob.name);
  expect(blobs).toEqual([`${batch.customerId}/${batch.trackingId}.json`]);

  const record = await invokeGetTracking(getTracking, batch);
  expect(record.json).toMatchObject({
    state: finalStatus,
    upstreamStatus: finalStatus,
    summary: { devices: 2 },
  });
  expect(record.json).not.toHaveProperty('nextCheckAt');
  const before = upstreamCalls(batch.trackingId);
  const res = await lookup(batch);
  expect(res.status).toBe(200);
  expect(res.headers.get('X-Result-Source')).toMatch(/memory|storage/);
  expect(upstreamCalls(batch.trackingId)).toBe(before);
}

function upstreamCalls(trackingId: string): number {
  return sims.partnerCenter.counters.byTrackingId[trackingId] ?? 0;
}

interface FaultCase {
  name: string;
  faults: { fault: PartnerCenterFault; times?: number }[];
  status: number;
  type?: string;
  upstreamStatus?: number;
  /** Partner Center calls the lookup made (attempts, retries included). */
  calls: number | [min: number, max: number];
  retryAfter?: string;
}

const S5XX = [500, 502, 503, 504] as const;

const CASES: FaultCase[] = [
  {
    name: '429 once, Retry-After: 1',
    faults: [{ fault: { kind: 'throttle', retryAfterSeconds: 1 }, times: 1 }],
    status: 200,
    calls: 2,
  },
  {
    name: '429 on every attempt',
    faults: [{ fault: { kind: 'throttle', retryAfterSeconds: 1 } }],
    status: 503,
    type: '/problems/upstream-throttled',
    upstreamStatus: 429,
    calls: 3,
    retryAfter: '1',
  },
  {
    name: '429 with a Retry-After past the budget',
    faults: [{ fault: { kind: 'throttle', retryAfterSeconds: 120 } }],
    status: 503,
    type: '/problems/upstream-throttled',
    upstreamStatus: 429,
    calls: 1,
    retryAfter: '120',
  },
  ...S5XX.map((status) => ({
    name: `${status} once`,
    faults: [{ fault: { kind: 'status', status } as PartnerCenterFault, times: 1 }],
    status: 200,
    calls: 2,
  })),
  ...S5XX.map((status) => ({
    name: `${status} on every attempt`,
    faults: [{ fault: { kind: 'status', status } as PartnerCenterFault }],
    status: 502,
    type: '/problems/upstream-error',
    upstreamStatus: status,
    calls: 3,
  })),
  {
    name: '503 with Retry-After: 1 on every attempt',
    faults: [{ fault: { kind: 'status', status: 503, retryAfterSeconds: 1 } }],
    status: 502,
    type: '/problems/upstream-error',
    upstreamStatus: 503,
    calls: [2, 3],
  },
  {
    name: 'slow (300 ms) but within the deadline',
    faults: [{ fault: { kind: 'latency', ms: 300 } }],
    status: 200,
    calls: 1,
  },
  {
    name: 'one attempt past its timeout, then a fast one',
    faults: [{ fault: { kind: 'latency', ms: 5_000 }, times: 1 }],
    status: 200,
    calls: 2,
  },
  {
    name: 'slower than the deadline on every attempt',
    faults: [{ fault: { kind: 'latency', ms: 10_000 } }],
    status: 504,
    type: '/problems/upstream-timeout',
    calls: [2, 3],
  },
  { name: 'connection reset once', faults: [{ fault: { kind: 'reset' }, times: 1 }], status: 200, calls: 2 },
  {
    name: 'connection reset on every attempt',
    faults: [{ fault: { kind: 'reset' } }],
    status: 502,
    type: '/problems/upstream-unreachable',
    calls: 3,
  },
  ...[
    undefined,
    '',
    'not json',
    '<html><body>502 Bad Gateway</body></html>',
    '{"status":"finished"',
    '\u0000\u0001',
  ].map((body) => ({
    name: `200 with malformed JSON ${body === undefined ? '(truncated answer)' : JSON.stringify(body)}`,
    faults: [{ fault: { kind: 'malformed', ...(body === undefined ? {} : { body }) } as PartnerCenterFault }],
    status: 502,
    type: '/problems/upstream-invalid-response',
    upstreamStatus: 200,
    calls: 1,
  })),
  ...[undefined, [], null, 'finished', { status: 42 }, { status: 'finished', devicesStatus: 'all' }, {}].map(
    (body) => ({
      name: `200 with an unexpected shape ${body === undefined ? '(a different resource)' : JSON.stringify(body)}`,
      faults: [
        {
          fault: { kind: 'unexpected-shape', ...(body === undefined ? {} : { body }) } as PartnerCenterFault,
        },
      ],
      status: 502,
      type: '/problems/upstream-invalid-response',
      upstreamStatus: 200,
      calls: 1,
    }),
  ),
  {
    name: '400 from Partner Center',
    faults: [{ fault: { kind: 'status', status: 400 } }],
    status: 502,
    type: '/problems/upstream-error',
    upstreamStatus: 400,
    calls: 1,
  },
  {
    name: '403 from Partner Center',
    faults: [{ fault: { kind: 'status', status: 403 } }],
    status: 502,
    type: '/problems/upstream-authorization',
    upstreamStatus: 403,
    calls: 1,
  },
  {
    name: '401 from Partner Center on every attempt (credential re-read once)',
    faults: [{ fault: { kind: 'status', status: 401 } }],
    status: 502,
    type: '/problems/upstream-authorization',
    upstreamStatus: 401,
    calls: 2,
  },
];

describe('the live lookup under upstream faults', () => {
  it.each(CASES)('$name → $status', async (c) => {
    const batch = await trackedBatch();
    for (const { fault, times } of c.faults) {
      sims.partnerCenter.inject(fault, { trackingId: batch.trackingId, ...(times ? { times } : {}) });
    }
    const res = await lookup(batch);

    expect(res.status).not.toBe(500);
    if (c.type) {
      const problem = expectProblem(res, c.status, c.type);
      if (c.upstreamStatus) expect(problem.upstream).toMatchObject({ status: c.upstreamStatus });
      if (c.retryAfter) expect(res.headers.get('Retry-After')).toBe(c.retryAfter);
    } else {
      expect(res.status).toBe(c.status);
      expect(res.json).toMatchObject({ batchTrackingId: batch.trackingId, status: 'finished' });
    }
    const [min, max] = Array.isArray(c.calls) ? c.calls : [c.calls, c.calls];
    expect(upstreamCalls(batch.trackingId)).toBeGreaterThanOrEqual(min);
    expect(upstreamCalls(batch.trackingId)).toBeLessThanOrEqual(max);
    // One logical request: every attempt carries the same MS-RequestId.
    // (The simulator records an attempt when it answers: one held past its timeout may be missing.)
    const attempts = sims.partnerCenter.requests.filter((r) => r.trackingId === batch.trackingId);
    const delayed = c.faults.some((f) => f.fault.kind === 'latency');
    if (!delayed) expect(attempts).toHaveLength(upstreamCalls(batch.trackingId));
    if (!delayed || attempts.length > 0) theOneRequestId(attempts);
    if (c.upstreamStatus === 401) expect(sims.keyVault.counters.secretReads).toBe(1);

    // The fault passes; the caller asks again and gets the answer, which is stored for the tracking.
    sims.partnerCenter.clearFaults();
    const again = await lookup(batch);
    expect(again.status).toBe(200);
    await expectFinishedOnce(batch, 'finished');
  });

  it('honours Retry-After: the retry after a 429 waits the full second', async () => {
    const batch = await trackedBatch();
    sims.partnerCenter.inject(
      { kind: 'throttle', retryAfterSeconds: 1 },
      { trackingId: batch.trackingId, times: 1 },
    );
    expect((await lookup(batch)).status).toBe(200);
    const [throttled, retried] = sims.partnerCenter.requests.filter((r) => r.trackingId === batch.trackingId);
    expect(throttled?.status).toBe(429);
    expect(retried?.status).toBe(200);
    expect(retried!.at - throttled!.at).toBeGreaterThanOrEqual(950);
  });
});
