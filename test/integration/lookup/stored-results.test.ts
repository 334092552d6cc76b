import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { AppServices } from '../../../shared/composition.js';
import { BatchStatusLookup } from '../../../shared/lookup/batch-status-lookup.js';
import { batchUploadDetailsSchema } from '../../../shared/partner-center/model.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../../support/app-settings.js';
import { resetSimulators } from '../../support/simulators.js';

// The lookup against real stored results (Azurite) and the real Partner Center client (simulator).
let sims: RunningSimulators;
let app: AppServices;
let clock = Date.parse('2026-11-26T12:00:00Z');

beforeAll(async () => {
  // DefaultAzureCredential (the vault read) takes its identity from process.env, as in Azure.
  sims = await startSimulatorsForHandlers(trackingStorageSettings(uniqueStorageNames('lookup')));
  app = new AppServices(process.env);
});

afterAll(async () => {
  await sims?.stop();
});

beforeEach(() => resetSimulators(sims));

function lookupWith(ttlMs = 60_000) {
  return new BatchStatusLookup({
    reader: app.partnerCenter,
    results: app.resultStore,
    liveHintTtlMs: ttlMs,
    now: () => clock,
  });
}

/** A batch that answers `processing` on its first poll and `finished` from then on. */
function batchFinishingAfterOnePoll() {
  return sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: 2,
    statuses: ['processing', 'finished'],
    advanceEveryCalls: 1,
  });
}

/** What the sweep would store: the simulator's answer read as the app reads Partner Center's. */
const asStored = (details: unknown) => batchUploadDetailsSchema.parse(details);

describe('stored terminal results in the lookup', () => {
  it('serves a stored result from storage, then from memory, without asking Partner Center', async () => {
    const batch = batchFinishingAfterOnePoll();
    const key = { customerId: batch.customerId, trackingId: batch.trackingId };
    const finished = sims.partnerCenter.getBatch(batch.customerId, batch.trackingId);
    await app.resultStore.put(key, asStored({ ...finished!, status: 'finished' }));

    const lookup = lookupWith();
    const first = await lookup.lookup(batch.customerId, batch.trackingId);
    const second = await lookup.lookup(batch.customerId, batch.trackingId);
    expect([first.source, second.source]).toEqual(['storage', 'memory']);
    expect(second.details.status).toBe('finished');
    expect(sims.partnerCenter.counters.total).toBe(0);
  });

  it('skips the storage read for a batch just seen pending, for the hint TTL only', async () => {
    const batch = batchFinishingAfterOnePoll();
    const key = { customerId: batch.customerId, trackingId: batch.trackingId };
    const lookup = lookupWith(60_000);

    const pending = await lookup.lookup(batch.customerId, batch.trackingId);
    expect([pending.source, pending.details.status]).toEqual(['live', 'processing']);

    // Meanwhile the sweep (another instance) stores the finished result.
    await app.resultStore.put(key, { ...pending.details, status: 'finished' });

    clock += 59_000;
    const withinHint = await lookup.lookup(batch.customerId, batch.trackingId);
    // Live once more (the bounded price of the hint); terminal answers are then kept in memory.
    expect([withinHint.source, withinHint.details.status]).toEqual(['live', 'finished']);
    expect((await lookup.lookup(batch.customerId, batch.trackingId)).source).toBe('memory');
    expect(sims.partnerCenter.counters.total).toBe(2);
  });

  it('reads storage again once the hint has expired', async () => {
    const batch = batchFinishingAfterOnePoll();
    const key = { customerId: batch.customerId, trackingId: batch.trackingId };
    const lookup = lookupWith(60_000);
    const pending = await lookup.lookup(batch.customerId, batch.trackingId);
    await app.resultStore.put(key, { ...pending.details, status: 'finished' });

    clock += 60_001;
    const after = await lookup.lookup(batch.customerId, batch.trackingId);
    expect([after.source, after.details.status]).toEqual(['storage', 'finished']);
    expect(sims.partnerCenter.counters.total).toBe(1);
  });

  it('goes live on refresh=true even with a stored result', async () => {
    const batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: 1,
      statuses: ['finished'],
    });
    const key = { customerId: batch.customerId, trackingId: batch.trackingId };
    await app.resultStore.put(key, asStored(sims.partnerCenter.getBatch(batch.customerId, batch.trackingId)));
    const refreshed = await lookupWith().lookup(batch.customerId, batch.trackingId, { refresh: true });
    expect(refreshed.source).toBe('live');
    expect(sims.partnerCenter.counters.total).toBe(1);
  });
});
