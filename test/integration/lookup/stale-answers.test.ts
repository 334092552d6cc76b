import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { AppServices } from '../../../shared/composition.js';
import { lookupResponse } from '../../../shared/http/responses.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../../support/app-settings.js';
import { type HttpHandler, invokeLookup } from '../../support/invoke.js';
import { resetSimulators } from '../../support/simulators.js';

// `Cache-Control: max-stale` on the lookup, through the getBatchStatus handler (real HttpRequest and
// InvocationContext), Azurite and the Partner Center simulator.
let sims: RunningSimulators;
let app: AppServices;
let getBatchStatus: HttpHandler;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers(trackingStorageSettings(uniqueStorageNames('stale')));
  ({ getBatchStatus } = await import('../../../functions/getBatchStatus.js'));
  app = (await import('../../../shared/composition.js')).services();
});
afterAll(async () => {
  await sims?.stop();
});
beforeEach(() => resetSimulators(sims));

/** A batch still processing upstream, tracked, whose last check (`processing`) was `ageSeconds` ago. */
async function trackedBatch(ageSeconds: number) {
  const batch = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), statuses: ['processing'] });
  const now = Date.now();
  await importRecords(app.trackingRecords.tables, [
    {
      customerId: batch.customerId,
      trackingId: batch.trackingId,
      state: 'pending',
      upstreamStatus: 'processing',
      startedTime: '2026-12-01T08:00:00Z',
      registeredAt: new Date(now - 3_600_000).toISOString(),
      lastCheckedAt: new Date(now - ageSeconds * 1000).toISOString(),
      nextCheckAt: new Date(now + 3_600_000).toISOString(),
      checks: 3,
    },
  ]);
  return batch;
}

const maxStale = (value: string) => ({ headers: { 'Cache-Control': value } });

describe('max-stale answers', () => {
  it('answer a throttled lookup of a tracked batch with its last stored status, marked, only when asked', async () => {
    const batch = await trackedBatch(600);
    // Longer than the client waits out (10 s): Partner Center keeps the lookup throttled.
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 40 }, { trackingId: batch.trackingId });

    const plain = await invokeLookup(getBatchStatus, batch);
    const stale = await invokeLookup(getBatchStatus, batch, maxStale('max-stale=900'));

    expect(plain.status).toBe(503);
    expect(plain.headers.get('retry-after')).toBe('40');
    expect(plain.headers.get('x-result-source')).toBeNull();
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-result-source')).toBe('stale');
    expect(Number(stale.headers.get('age'))).toBeGreaterThanOrEqual(600);
    expect(Number(stale.headers.get('age'))).toBeLessThan(900);
    expect(stale.headers.get('cache-control')).toBe('no-store');
    expect(stale.json).toEqual({
      batchTrackingId: batch.trackingId,
      status: 'processing',
      startedTime: '2026-12-01T08:00:00Z',
      attributes: { objectType: 'BatchUploadDetails' },
    });
  });

  it('are bounded by the directive: an older status is not served, `max-stale` alone takes any age', async () => {
    const batch = await trackedBatch(600);
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 40 }, { trackingId: batch.trackingId });

    const tooOld = await invokeLookup(getBatchStatus, batch, maxStale('no-cache, max-stale=300'));
    const anyAge = await invokeLookup(getBatchStatus, batch, maxStale('max-stale'));
    const quoted = await invokeLookup(getBatchStatus, batch, maxStale('max-stale="3600"'));
    const malformed = await invokeLookup(getBatchStatus, batch, maxStale('max-stale=soon'));

    expect(tooOld.status).toBe(503);
    expect(anyAge.status).toBe(200);
    expect(anyAge.headers.get('x-result-source')).toBe('stale');
    expect(quoted.status).toBe(200);
    expect(malformed.status).toBe(503);
  });

  it('stand in when Partner Center is down, not when it answers, and not for an untracked batch', async () => {
    const batch = await trackedBatch(60);
    const untracked = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      statuses: ['queued'],
    });

    // A fresh instance: one that no earlier 429 has told the partner is throttled.
    const fresh = new AppServices(process.env);
    const healthy = lookupResponse(
      await fresh.batchStatusLookup.lookup(batch.customerId, batch.trackingId, { maxStaleSeconds: 3600 }),
    );
    sims.partnerCenter.inject({ kind: 'status', status: 500 });
    const down = await invokeLookup(getBatchStatus, batch, maxStale('max-stale=3600'));
    const downPlain = await invokeLookup(getBatchStatus, batch);
    const downUntracked = await invokeLookup(getBatchStatus, untracked, maxStale('max-stale=3600'));

    expect(healthy.status).toBe(200);
    expect(healthy.headers?.['X-Result-Source']).toBe('live');
    expect(healthy.headers).not.toHaveProperty('Age');
    expect(down.status).toBe(200);
    expect(down.headers.get('x-result-source')).toBe('stale');
    expect(downPlain.status).toBe(502);
    expect(downUntracked.status).toBe(502);
  });

  it('cost no upstream call while the partner is known to be throttled', async () => {
    const batch = await trackedBatch(30);
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 40 }, { times: 1 });
    expect(
      (await invokeLookup(getBatchStatus, { customerId: batch.customerId, trackingId: crypto.randomUUID() }))
        .status,
    ).toBe(503);
    const before = sims.partnerCenter.counters.total;

    const stale = await invokeLookup(getBatchStatus, batch, maxStale('max-stale=60'));
    const afterStale = sims.partnerCenter.counters.total;
    const live = await invokeLookup(getBatchStatus, batch);

    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-result-source')).toBe('stale');
    expect(afterStale).toBe(before);
    // Without the directive the caller still gets the live answer (Partner Center lets it through now).
    expect(live.status).toBe(200);
    expect(live.headers.get('x-result-source')).toBe('live');
    expect(sims.partnerCenter.counters.total).toBe(before + 1);
  });
});
