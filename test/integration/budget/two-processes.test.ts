import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import { type AppProcess, startAppProcess, sweepFinished, triggerSweep } from '../../support/app-process.js';
import { trackingStorageSettings, uniqueStorageNames } from '../../support/app-settings.js';
import { startTestSimulators } from '../../support/simulators.js';
import { waitFor } from '../../support/wait.js';
import { testStorage } from '../trackings/storage-fixture.js';

// Two app processes, as `npm run serve` runs the app, sharing one tracking storage (the run's
// Azurite) and one Partner Center simulator: what one learns from a 429 holds back the other.
const RETRY_AFTER_SECONDS = 4;
const DUE = 5;
const names = uniqueStorageNames('b2p');
let sims: RunningSimulators;
let hosts: AppProcess[] = [];

beforeAll(async () => {
  sims = await startTestSimulators();
  const env = {
    ...sims.env,
    ...trackingStorageSettings(names),
    SWEEP_SCHEDULE: '0 0 0 1 1 *',
    // A caller's lookup answers 503 at once instead of waiting out the Retry-After.
    PARTNER_CENTER_MAX_RETRY_AFTER_MS: '1',
    LOCAL_FUNCTION_KEY: '',
  };
  hosts = await Promise.all([startAppProcess(env), startAppProcess(env)]);
});

afterAll(async () => {
  await Promise.all(hosts.map((host) => host.kill('SIGKILL')));
  await sims?.stop();
});

/** The partner-wide throttle entity the budget keeps in tracking storage, once one is there. */
async function sharedThrottle(): Promise<{ throttledUntil: number } | undefined> {
  const table = TableClient.fromConnectionString(
    inject('azuriteConnectionString'),
    `${names.tablePrefix}budget`,
    {
      allowInsecureConnection: true,
    },
  );
  try {
    return await table.getEntity<{ throttledUntil: number }>('partner-center', 'partner');
  } catch {
    return undefined;
  }
}

/** `n` trackings due now, of batches that finish at the first look. */
async function dueTrackings(n: number): Promise<string[]> {
  const customerId = crypto.randomUUID();
  const now = Date.now();
  const records: TrackingRecord[] = Array.from({ length: n }, (_, i) => ({
    customerId,
    trackingId: sims.partnerCenter.createBatch({ customerId, devices: 1, advanceEveryCalls: 0 }).trackingId,
    state: 'pending',
    registeredAt: new Date(now - 60_000 + i).toISOString(),
    nextCheckAt: new Date(now - 1000).toISOString(),
    checks: 0,
  }));
  const storage = testStorage({
    names: { tablePrefix: names.tablePrefix, resultContainer: names.container },
  });
  await importRecords(storage.records.tables, records);
  return records.map((r) => r.trackingId);
}

describe('two app processes sharing tracking storage', () => {
  it("a 429 that one process's lookup met holds back the other process's sweep until its Retry-After ends", async () => {
    const [first, second] = hosts as [AppProcess, AppProcess];
    const due = await dueTrackings(DUE);
    const tool = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      statuses: ['processing'],
    });
    sims.partnerCenter.reset();
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: RETRY_AFTER_SECONDS }, { times: 1 });

    const lookup = await fetch(
      `${first.url}/api/customers/${tool.customerId}/batchJobStatus/${tool.trackingId}`,
    );
    expect(lookup.status).toBe(503);
    const [throttle] = sims.partnerCenter.requests;
    expect(throttle).toMatchObject({ trackingId: tool.trackingId, status: 429 });
    const retryAfterEnds = throttle!.at + RETRY_AFTER_SECONDS * 1000;
    // The first process writes what it met to storage in the background: the second reads it there.
    const shared = await waitFor(sharedThrottle, { description: 'the throttle entity in storage' });
    expect(Number(shared.throttledUntil)).toBeGreaterThanOrEqual(retryAfterEnds);

    const from = await triggerSweep(second);
    const triggeredAt = Date.now();
    const summary = await sweepFinished(second, from, { timeoutMs: 60_000 });

    // Meaningful only when the sweep started inside the pause (it starts within milliseconds).
    expect(triggeredAt).toBeLessThan(retryAfterEnds);
    expect(summary).toMatch(new RegExp(`Sweep completed: claimed=${DUE} finished=${DUE} .*errors=0 `));
    const sweepCalls = sims.partnerCenter.requests.filter((r) => r.trackingId !== tool.trackingId);
    expect(sweepCalls.map((r) => r.trackingId).sort()).toEqual([...due].sort());
    expect(sweepCalls.every((r) => r.status === 200)).toBe(true);
    expect(Math.min(...sweepCalls.map((r) => r.at))).toBeGreaterThanOrEqual(retryAfterEnds);
  });
});
