import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  type RunningSimulators,
} from '../../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../../support/app-settings.js';
import { DOCS_EXAMPLE_BODY } from '../../support/docs-example.js';
import { invokeLookup } from '../../support/invoke.js';
import { resetSimulators, theOneRequestId } from '../../support/simulators.js';

// Handlers read settings from the environment once per process: configure it before importing them.
let sims: RunningSimulators;
let getBatchStatus: typeof import('../../../functions/getBatchStatus.js').getBatchStatus;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({
    PARTNER_CENTER_DEADLINE_MS: '2500',
    PARTNER_CENTER_MAX_RETRIES: '2',
    PARTNER_CENTER_MAX_RETRY_AFTER_MS: '2000',
  });
  ({ getBatchStatus } = await import('../../../functions/getBatchStatus.js'));
});

afterAll(async () => {
  await sims?.stop();
});

beforeEach(() => {
  sims.partnerCenter.clearFaults();
  resetSimulators(sims);
});

function lookup(customerId: string, trackingId: string, headers: Record<string, string> = {}, query = '') {
  return invokeLookup(getBatchStatus, { customerId, trackingId }, { headers, query });
}

function newBatch(status: 'processing' | 'finished' = 'processing') {
  return sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: 3,
    finalStatus: 'finished',
    statuses: status === 'processing' ? ['processing'] : ['finished'],
  });
}

describe('getBatchStatus through the real handler', () => {
  it("answers the docs' example through Key Vault, Entra ID and Partner Center", async () => {
    const res = await lookup(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID, {
      'MS-CorrelationId': 'de894e18-f027-4ac0-8b5a-34f0c222af0c',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(DOCS_EXAMPLE_BODY);
    expect(res.headers.get('MS-CorrelationId')).toBe('de894e18-f027-4ac0-8b5a-34f0c222af0c');
    expect(res.headers.get('MS-RequestId')).toBe(theOneRequestId(sims.partnerCenter.requests));
    expect(res.headers.get('MS-CV')).toBeTruthy();
    expect(res.headers.get('X-Result-Source')).toBe('live');
    expect(sims.partnerCenter.counters.total).toBe(1);
    const sent = sims.partnerCenter.requests[0]!;
    expect(sent.headers['ms-correlationid']).toBe('de894e18-f027-4ac0-8b5a-34f0c222af0c');
    expect(sent.headers['x-locale']).toBe('en-US');
    expect(sent.headers['ms-partnercenter-application']).toBe('device-batch-status');
    expect(sent.headers.accept).toBe('application/json');
  });

  it('marks a non-terminal answer as not cacheable', async () => {
    const batch = newBatch('processing');
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(200);
    expect((res.json as { status: string }).status).toBe('processing');
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it.each([
    ['not-a-guid', DOCS_EXAMPLE_TRACKING_ID],
    [DOCS_EXAMPLE_CUSTOMER_ID, '0127ed8e-ff72-4983-a3d8-e8d8bd37893'],
    ['..%2F..%2Fadmin', DOCS_EXAMPLE_TRACKING_ID],
    [DOCS_EXAMPLE_CUSTOMER_ID, `${DOCS_EXAMPLE_TRACKING_ID}x`],
  ])(
    'refuses malformed ids (%s / %s) with 400 problem+json and no upstream call',
    async (customerId, trackingId) => {
      const res = await lookup(customerId, trackingId);
      expect(res.status).toBe(400);
      expect(res.headers.get('Content-Type')).toBe('application/problem+json');
      expect(res.json).toMatchObject({ type: '/problems/invalid-request', status: 400 });
      expect((res.json as { correlationId: string }).correlationId).toBe(res.headers.get('MS-CorrelationId'));
      expect(sims.partnerCenter.counters.total).toBe(0);
      expect(sims.keyVault.counters.secretReads).toBe(0);
    },
  );

  it('waits out a 429 with Retry-After and answers 200 to the caller, with one MS-RequestId throughout', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 1 }, { times: 1 });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(200);
    expect(sims.partnerCenter.counters.byStatus['429']).toBe(1);
    expect(sims.partnerCenter.counters.byStatus['200']).toBe(1);
    // The caller's MS-RequestId header is the one every attempt carried.
    expect(res.headers.get('MS-RequestId')).toBe(theOneRequestId(sims.partnerCenter.requests));
  });

  it('answers 503 with Retry-After when Partner Center keeps throttling', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 1 });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(503);
    expect(res.headers.get('Retry-After')).toBe('1');
    expect(res.json).toMatchObject({
      type: '/problems/upstream-throttled',
      upstream: { status: 429, code: '429' },
    });
    // The first attempt and maxRetries (2) retries, nothing more.
    expect(sims.partnerCenter.counters.total).toBe(3);
  });

  it('does not wait out a Retry-After longer than the budget: 503 at once', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 57 });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(503);
    expect(res.headers.get('Retry-After')).toBe('57');
    expect(sims.partnerCenter.counters.total).toBe(1);
  });

  it('retries 5xx and connection resets with the same MS-RequestId', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'status', status: 503 }, { times: 1 });
    sims.partnerCenter.inject({ kind: 'reset' }, { times: 1 });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(200);
    expect(sims.partnerCenter.counters.total).toBe(3);
    expect(res.headers.get('MS-RequestId')).toBe(theOneRequestId(sims.partnerCenter.requests));
  });

  it.each([401, 403])('answers 502 when Partner Center refuses our credential with %i', async (status) => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'status', status });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ type: '/problems/upstream-authorization', upstream: { status } });
  });

  it('answers 502 for persistent 5xx and for malformed JSON', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'status', status: 500 });
    const failing = await lookup(batch.customerId, batch.trackingId);
    expect(failing.status).toBe(502);
    expect(failing.json).toMatchObject({ type: '/problems/upstream-error', upstream: { status: 500 } });

    sims.partnerCenter.clearFaults();
    sims.partnerCenter.inject({ kind: 'malformed' });
    const malformed = await lookup(batch.customerId, batch.trackingId);
    expect(malformed.status).toBe(502);
    expect(malformed.json).toMatchObject({ type: '/problems/upstream-invalid-response' });
  });

  it('answers 404 when Partner Center does not know the batch', async () => {
    const res = await lookup(crypto.randomUUID(), crypto.randomUUID());
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ type: '/problems/batch-not-found', upstream: { status: 404 } });
  });

  it('answers 504 when the deadline passes before Partner Center answers', async () => {
    const batch = newBatch();
    sims.partnerCenter.inject({ kind: 'latency', ms: 10_000 });
    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(504);
    expect(res.json).toMatchObject({ type: '/problems/upstream-timeout' });
  });

  it('recovers from a rotated credential: Partner Center 401, one vault re-read, then success', async () => {
    const batch = newBatch();
    // Warm: the credential is cached.
    expect((await lookup(batch.customerId, batch.trackingId)).status).toBe(200);
    sims.keyVault.reset();
    sims.entra.reset();

    const rotated = 'pc~rotated-secret-0002';
    sims.keyVault.setSecret('partner-center-app-secret', rotated);
    sims.entra.setApplicationSecrets(sims.app.clientId, [rotated]);
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });

    const res = await lookup(batch.customerId, batch.trackingId);
    expect(res.status).toBe(200);
    expect(sims.keyVault.counters.secretReads).toBe(1);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(1);
  });
});
