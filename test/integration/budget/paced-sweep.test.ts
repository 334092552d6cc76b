import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { TableThrottleStore } from '../../../shared/budget/budget-table.js';
import { pacedSweepReader } from '../../../shared/budget/paced-reader.js';
import { PartnerBudget } from '../../../shared/budget/partner-budget.js';
import type { SweepSettings } from '../../../shared/config/settings.js';
import { PartnerCenterClient } from '../../../shared/partner-center/client.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import { Sweeper } from '../../../shared/trackings/sweep.js';
import { simulatorCredential, startTestSimulators } from '../../support/simulators.js';
import { guid, type TestStorage, testStorage } from '../trackings/storage-fixture.js';

const MINUTE = 60_000;
const SETTINGS: SweepSettings = {
  schedule: '0 */5 * * * *',
  // One check at a time: the test clock then moves only through the waits of one sweep.
  concurrency: 1,
  timeBudgetMs: 8 * MINUTE,
  maxClaimsPerRun: 20_000,
  leaseMs: 10 * MINUTE,
  initialBackoffMs: 60 * MINUTE,
  maxBackoffMs: 60 * MINUTE,
  maxTrackingAgeMs: 72 * 60 * MINUTE,
  notFoundGraceMs: 30 * MINUTE,
};

/**
 * Test time, shared by the simulators, the sweep and the budget: it moves only when one of them
 * waits. `onTick` runs for every whole second the clock passes (the tool's lookups).
 */
class TestClock {
  ms = Date.now();
  onTick: (() => Promise<void>) | undefined;
  readonly now = () => this.ms;
  readonly date = () => new Date(this.ms);
  readonly sleep = async (ms: number) => {
    const from = this.ms;
    this.ms += Math.max(0, ms);
    for (let second = Math.floor(from / 1000) + 1; second <= Math.floor(this.ms / 1000); second++) {
      await this.onTick?.();
    }
  };
}

let sims: RunningSimulators;
const clock = new TestClock();

beforeAll(async () => {
  sims = await startTestSimulators({ now: clock.now });
});
afterAll(() => sims?.stop());
beforeEach(() => {
  sims.partnerCenter.reset({ batches: true });
  sims.partnerCenter.throttle(undefined);
  clock.onTick = undefined;
});

/** One app instance: its client, its budget (sharing `storage`'s throttle entity) and its sweep. */
function instance(storage: TestStorage, maxCallsPerMinute: number) {
  const budget = new PartnerBudget({
    maxCallsPerMinute,
    shared: TableThrottleStore.fromClients(storage.clients, storage.names.tablePrefix),
    now: clock.now,
    sleep: clock.sleep,
  });
  const client = new PartnerCenterClient(
    sims.partnerCenter.url,
    simulatorCredential(sims.entra.url, sims.app),
    {
      retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
      onThrottled: (retryAfterMs, priority) => budget.throttled(retryAfterMs, priority),
    },
  );
  const sweep = (settings: Partial<SweepSettings> = {}) =>
    new Sweeper({
      scheduler: storage.scheduler,
      results: storage.results,
      reader: pacedSweepReader(
        client,
        budget,
        clock.ms + (settings.timeBudgetMs ?? SETTINGS.timeBudgetMs),
        clock.now,
      ),
      settings: { ...SETTINGS, ...settings },
      clock: clock.date,
      sleep: clock.sleep,
      gate: budget,
    }).run();
  return { budget, client, sweep };
}

/** `n` due trackings of batches that finish at the first look. */
async function dueTrackings(storage: TestStorage, n: number): Promise<string[]> {
  const customerId = guid();
  const records: TrackingRecord[] = Array.from({ length: n }, (_, i) => ({
    customerId,
    trackingId: sims.partnerCenter.createBatch({ customerId, devices: 2, advanceEveryCalls: 0 }).trackingId,
    state: 'pending',
    registeredAt: new Date(clock.ms - MINUTE + i).toISOString(),
    nextCheckAt: new Date(clock.ms - 1000).toISOString(),
    checks: 0,
  }));
  await importRecords(storage.records.tables, records);
  return records.map((r) => r.trackingId);
}

describe('the sweep, paced by the partner-wide budget', () => {
  it('stays under its ceiling, one call at a time', async () => {
    const storage = testStorage();
    await dueTrackings(storage, 40);
    const app = instance(storage, 300);

    const report = await app.sweep();

    expect(report).toMatchObject({ claimed: 40, finished: 40, errors: 0 });
    const at = sims.partnerCenter.requests.map((r) => r.at);
    expect(at).toHaveLength(40);
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(200); // 300 a minute
  });

  it("keeps a tool's lookups answering while it sweeps under a 40-per-4-s window", async () => {
    const storage = testStorage();
    await dueTrackings(storage, 200);
    const app = instance(storage, 600);
    const tool = sims.partnerCenter.createBatch({ customerId: guid(), statuses: ['processing'] });
    const toolStatuses: number[] = [];
    clock.onTick = async () => {
      // A caller that does not wait out a Retry-After: every 429 it meets counts against the sweep.
      const answer = await app.client
        .getBatchStatus(tool.customerId, tool.trackingId, { maxRetryAfterMs: 0 })
        .then(() => 200)
        .catch((error: { statusCode?: number }) => error.statusCode ?? 0);
      toolStatuses.push(answer);
    };
    sims.partnerCenter.throttle({ kind: 'window', limit: 40, windowSeconds: 4 });
    const started = clock.ms;

    const report = await app.sweep();

    const seconds = (clock.ms - started) / 1000;
    const byStatus = sims.partnerCenter.counters.byStatus;
    const calls = (byStatus['200'] ?? 0) + (byStatus['429'] ?? 0);
    expect(report).toMatchObject({ claimed: 200, finished: 200, errors: 0 });
    expect(seconds).toBeLessThanOrEqual(1.5 * (200 / 10));
    expect((byStatus['429'] ?? 0) / calls).toBeLessThanOrEqual(0.05);
    expect(toolStatuses.filter((s) => s === 200).length / toolStatuses.length).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
