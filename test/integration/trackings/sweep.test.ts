import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import type { SweepSettings } from '../../../shared/config/settings.js';
import { silentLog } from '../../../shared/diagnostics/log.js';
import { PartnerCenterClient } from '../../../shared/partner-center/client.js';
import type { BatchStatusReader, BatchUploadDetails } from '../../../shared/partner-center/model.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import { ResultStore } from '../../../shared/trackings/result-store.js';
import { Sweeper, type SweepReport } from '../../../shared/trackings/sweep.js';
import { DUE_PARTITION, dueRowKey } from '../../../shared/trackings/tracking-entities.js';
import { simulatorCredential, startTestSimulators } from '../../support/simulators.js';
import {
  allEntities,
  guid,
  OutcomeLog,
  StorageCounter,
  TableWireCounter,
  type TestStorage,
  testStorage,
} from './storage-fixture.js';

const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const MINUTE = 60_000;

const SETTINGS: SweepSettings = {
  schedule: '0 */5 * * * *',
  concurrency: 8,
  timeBudgetMs: 8 * MINUTE,
  maxClaimsPerRun: 20_000,
  leaseMs: 10 * MINUTE,
  initialBackoffMs: MINUTE,
  maxBackoffMs: 8 * MINUTE,
  maxTrackingAgeMs: 72 * 60 * MINUTE,
  notFoundGraceMs: 30 * MINUTE,
};

/** Test time: only moves when a test (or the sweep's injected sleep) moves it. */
class FakeClock {
  constructor(public ms: number) {}
  readonly now = () => new Date(this.ms);
  set(ms: number) {
    this.ms = ms;
  }
  /** A sleep that jumps to the end of the wait instead of waiting. */
  readonly sleeps: number[] = [];
  readonly sleep = async (ms: number) => {
    this.sleeps.push(ms);
    this.ms = Math.max(this.ms, this.ms + ms);
  };
}

/** The real client, recording the test clock at each call so tests can see when calls were made. */
class RecordingReader implements BatchStatusReader {
  readonly calls: { trackingId: string; atMs: number }[] = [];
  constructor(
    private readonly inner: BatchStatusReader,
    private readonly clock: FakeClock,
  ) {}
  getBatchStatus(...args: Parameters<BatchStatusReader['getBatchStatus']>) {
    this.calls.push({ trackingId: args[1], atMs: this.clock.ms });
    return this.inner.getBatchStatus(...args);
  }
}

/** Throws right after the result blob is written: a process dying between the blob and the record. */
class CrashAfterResultWrite extends ResultStore {
  override async put(...args: Parameters<ResultStore['put']>): Promise<string> {
    await super.put(...args);
    throw new Error('simulated crash after writing the result blob');
  }
}

let sims: RunningSimulators;
let client: PartnerCenterClient;

beforeAll(async () => {
  sims = await startTestSimulators();
  client = new PartnerCenterClient(sims.partnerCenter.url, simulatorCredential(sims.entra.url, sims.app), {
    retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
  });
});
afterAll(() => sims?.stop());
beforeEach(() => sims.partnerCenter.reset());

function upstreamCalls(trackingId: string): number {
  return sims.partnerCenter.counters.byTrackingId[trackingId] ?? 0;
}

interface Setup {
  storage: TestStorage;
  clock: FakeClock;
  reader: RecordingReader;
  sweeper: (overrides?: Partial<SweepSettings> & { storage?: TestStorage; random?: () => number }) => Sweeper;
}

function setup(options: Parameters<typeof testStorage>[0] = {}): Setup {
  const storage = testStorage(options);
  const clock = new FakeClock(T0);
  const reader = new RecordingReader(client, clock);
  return {
    storage,
    clock,
    reader,
    sweeper: ({ storage: other, random, ...settings } = {}) =>
      new Sweeper({
        scheduler: (other ?? storage).scheduler,
        results: (other ?? storage).results,
        reader,
        settings: { ...SETTINGS, ...settings },
        clock: clock.now,
        random: random ?? (() => 0.5),
        sleep: clock.sleep,
      }),
  };
}

/** Registers trackings at T0 and creates their batches upstream. */
async function registerBatches(
  s: Setup,
  count: number,
  batch: { statuses?: string[]; advanceEveryCalls?: number; devices?: number } = { advanceEveryCalls: 0 },
): Promise<{ customerId: string; trackingId: string }[]> {
  const customerId = guid();
  const keys = Array.from({ length: count }, () => ({ customerId, trackingId: guid() }));
  await Promise.all(
    keys.map(async (k) => {
      sims.partnerCenter.createBatch({ ...k, devices: batch.devices ?? 4, ...batch });
      await s.storage.store.register(k, {}, new Date(T0));
    }),
  );
  return keys;
}

/** Writes a due entry for `k` at `dueMs` directly, as one left behind by a crash. */
async function leaveDueEntry(s: Setup, k: { customerId: string; trackingId: string }, dueMs: number) {
  await s.storage.clients
    .tableClient(s.storage.tables.due)
    .upsertEntity({ partitionKey: DUE_PARTITION, rowKey: dueRowKey(k, dueMs), ...k });
}

async function record(s: Setup, k: { customerId: string; trackingId: string }): Promise<TrackingRecord> {
  const r = await s.storage.store.get(k);
  if (!r) throw new Error('tracking vanished');
  return r;
}

describe('Sweeper', () => {
  it('two sweeps running at the same time check each due tracking exactly once', async () => {
    const outcomes = new OutcomeLog();
    const s = setup({ outcomes: outcomes.observer });
    const done = await registerBatches(s, 24, { advanceEveryCalls: 0 });
    const busy = await registerBatches(s, 24, { statuses: ['processing'] });
    sims.partnerCenter.inject({ kind: 'latency', ms: 15 });
    // A second process: its own clients and store on the same tables.
    const other = testStorage({ names: s.storage.names, outcomes: outcomes.observer });
    outcomes.lines.length = 0;
    s.clock.set(T0 + 1000);

    const [a, b] = await Promise.all([
      s.sweeper({ concurrency: 4 }).run(),
      s.sweeper({ concurrency: 4, storage: other }).run(),
    ]);

    for (const k of [...done, ...busy]) expect(upstreamCalls(k.trackingId)).toBe(1);
    expect(sims.partnerCenter.counters.total).toBe(48);
    expect(a.claimed + b.claimed).toBe(48);
    expect(a.claimed).toBeGreaterThan(0);
    expect(b.claimed).toBeGreaterThan(0);
    expect(a.finished + b.finished).toBe(24);
    expect(a.stillPending + b.stillPending).toBe(24);
    for (const k of done) expect((await record(s, k)).state).toBe('finished');
    for (const k of busy)
      expect(Date.parse((await record(s, k)).nextCheckAt ?? '')).toBeGreaterThan(s.clock.ms);
    // Each terminal transition told once, by whichever sweep won it.
    expect(outcomes.lines.sort()).toEqual(done.map((k) => `sweep:finished:${k.trackingId}`).sort());

    // Within the same window a third run finds nothing to do.
    const c = await s.sweeper().run();
    expect(c.claimed).toBe(0);
    expect(sims.partnerCenter.counters.total).toBe(48);
  });

  it('a crash between the result blob and the record is completed by the next sweep, with one result', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0, devices: 8 });
    if (!k) throw new Error('no key');
    const crashing = testStorage({
      names: s.storage.names,
      results: (clients, container) =>
        new CrashAfterResultWrite({
          container: clients.containerClient(container),
          ensure: () => clients.ensureContainer(container),
        }),
    });
    s.clock.set(T0 + 1000);

    const first = await s.sweeper({ storage: crashing }).run();
    expect(first).toMatchObject({ claimed: 1, finished: 0, errors: 1 });
    expect(upstreamCalls(k.trackingId)).toBe(1);
    expect(await s.storage.results.get(k)).toBeDefined();
    const leased = await record(s, k);
    expect(leased.state).toBe('pending');
    expect(leased.nextCheckAt).toBe(new Date(T0 + 1000 + SETTINGS.leaseMs).toISOString());

    // Before the lease ends nobody touches it.
    expect((await s.sweeper().run()).claimed).toBe(0);

    s.clock.set(T0 + 1000 + SETTINGS.leaseMs);
    const second = await s.sweeper().run();
    expect(second).toMatchObject({ claimed: 1, finished: 1, errors: 0 });
    expect(upstreamCalls(k.trackingId)).toBe(1);

    const final = await record(s, k);
    expect(final).toMatchObject({ state: 'finished', upstreamStatus: 'finished', summary: { devices: 8 } });
    expect(final.nextCheckAt).toBeUndefined();
    const blobs: string[] = [];
    for await (const blob of s.storage.clients
      .containerClient(s.storage.names.resultContainer)
      .listBlobsFlat()) {
      blobs.push(blob.name);
    }
    expect(blobs).toEqual([ResultStore.blobName(k)]);
    expect(await allEntities(s.storage, 'due')).toEqual([]);
    expect((await s.sweeper().run()).claimed).toBe(0);
  });

  it('with 10,000 terminal trackings in history and 50 due, reads only the 50 due ones', async () => {
    const counter = new StorageCounter();
    const wire = new TableWireCounter();
    const s = setup({ observer: counter.observer, tablePolicies: [wire.policy] });
    const history: TrackingRecord[] = [];
    for (let c = 0; c < 100; c++) {
      const customerId = guid();
      for (let i = 0; i < 100; i++) {
        history.push({
          customerId,
          trackingId: guid(),
          state: i % 10 === 0 ? 'finished_with_errors' : 'finished',
          upstreamStatus: i % 10 === 0 ? 'finished_with_errors' : 'finished',
          registeredAt: new Date(T0 - 86_400_000 + c * 1000 + i).toISOString(),
          lastCheckedAt: new Date(T0 - 3_600_000).toISOString(),
          checks: 3,
          summary: { devices: 5, byStatus: { finished: 5 }, errors: [] },
        });
      }
    }
    await importRecords(s.storage.records.tables, history);
    const due = await registerBatches(s, 50, { advanceEveryCalls: 0 });
    expect((await allEntities(s.storage, 'trackings')).length).toBe(10_050);
    counter.reset();
    wire.reset();
    s.clock.set(T0 + 1000);

    const report = await s.sweeper().run();

    expect(report).toMatchObject({ claimed: 50, finished: 50, errors: 0, stoppedEarly: false });
    expect(sims.partnerCenter.counters.total).toBe(50);
    // What the store asked for and got back:
    expect(counter.entitiesRead('due')).toBe(50);
    expect(counter.entitiesRead('trackings')).toBe(50);
    expect(counter.entitiesRead('list')).toBe(0);
    expect(counter.count('trackings', 'query')).toBe(0);
    // What actually crossed the wire to Table storage:
    const returned = wire.requests.reduce((sum, r) => sum + r.entities, 0);
    expect(returned).toBe(100);
    expect(wire.requests.filter((r) => r.query && r.table === s.storage.tables.trackings)).toEqual([]);
    expect(wire.requests.filter((r) => r.table === s.storage.tables.list && r.method === 'GET')).toEqual([]);
    for (const k of due) expect((await record(s, k)).state).toBe('finished');
  }, 120_000);

  it('stops claiming when the time budget is spent and leaves the rest due', async () => {
    const s = setup();
    const keys = await registerBatches(s, 6, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);
    // Each upstream call "takes" 10 s of test time.
    const slow: BatchStatusReader = {
      getBatchStatus: async (...args) => {
        const response = await s.reader.getBatchStatus(...args);
        s.clock.set(s.clock.ms + 10_000);
        return response;
      },
    };
    const sweeper = new Sweeper({
      scheduler: s.storage.scheduler,
      results: s.storage.results,
      reader: slow,
      settings: { ...SETTINGS, concurrency: 1, timeBudgetMs: 25_000 },
      clock: s.clock.now,
      random: () => 0.5,
    });

    const report = await sweeper.run();

    expect(report).toMatchObject({ claimed: 3, stillPending: 3, stoppedEarly: true });
    expect(sims.partnerCenter.counters.total).toBe(3);
    const untouched = [];
    for (const k of keys) {
      const r = await record(s, k);
      if (r.checks === 0) untouched.push(r);
    }
    expect(untouched).toHaveLength(3);
    for (const r of untouched) expect(r.nextCheckAt).toBe(new Date(T0).toISOString());

    const next = await s.sweeper({ concurrency: 1 }).run();
    expect(next).toMatchObject({ claimed: 3, stoppedEarly: false });
  });

  it('maxClaimsPerRun caps the claims of one run', async () => {
    const s = setup();
    await registerBatches(s, 5, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);
    const report = await s.sweeper({ maxClaimsPerRun: 2, concurrency: 1 }).run();
    expect(report).toMatchObject({ claimed: 2, stoppedEarly: true });
    expect(sims.partnerCenter.counters.total).toBe(2);
  });

  it('maxClaimsPerRun counts claims only, not the stale entries skipped on the way', async () => {
    const s = setup();
    const finished = await registerBatches(s, 2, { advanceEveryCalls: 0 });
    for (const k of finished) {
      const details = sims.partnerCenter.getBatch(k.customerId, k.trackingId) as BatchUploadDetails;
      await s.storage.store.recordTerminal(k, details, new Date(T0 + 500));
      // Stale entries (a crash before their removal), due before anything else.
      await leaveDueEntry(s, k, T0 - 1000);
    }
    await registerBatches(s, 2, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);
    sims.partnerCenter.reset();

    const report = await s.sweeper({ maxClaimsPerRun: 2, concurrency: 1 }).run();
    expect(report).toMatchObject({
      skipped: 2,
      claimed: 2,
      stoppedEarly: false,
    } satisfies Partial<SweepReport>);
    expect(sims.partnerCenter.counters.total).toBe(2);
  });

  it('backs off exponentially, with jitter, while the batch is not done', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { statuses: ['queued', 'processing'] });
    if (!k) throw new Error('no key');
    const waits: number[] = [];
    let randomValue = 0.5;
    for (let i = 0; i < 6; i++) {
      const before = await record(s, k);
      s.clock.set(Date.parse(before.nextCheckAt ?? ''));
      const report = await s.sweeper({ random: () => randomValue }).run();
      expect(report).toMatchObject({ claimed: 1, stillPending: 1 });
      const after = await record(s, k);
      waits.push(Date.parse(after.nextCheckAt ?? '') - s.clock.ms);
      randomValue = i % 2 ? 0.5 : 0.9;
    }
    // base 1, 2, 4, 8, 8, 8 minutes (capped), jitter in [base/2, base]
    expect(waits).toEqual([0.75, 1.9, 3, 7.6, 6, 7.6].map((m) => m * MINUTE));
    expect(upstreamCalls(k.trackingId)).toBe(6);
    const final = await record(s, k);
    expect(final).toMatchObject({ checks: 6, upstreamStatus: 'processing', state: 'pending' });
    expect(final.startedTime).toMatch(/Z$/);
  });

  it('expires a tracking that is still not terminal after the maximum age (after one last look)', async () => {
    const outcomes = new OutcomeLog();
    const s = setup({ outcomes: outcomes.observer });
    const [k] = await registerBatches(s, 1, { statuses: ['processing'] });
    if (!k) throw new Error('no key');
    s.clock.set(T0 + SETTINGS.maxTrackingAgeMs);

    const report = await s.sweeper().run();

    expect(report).toMatchObject({ claimed: 1, expired: 1, stillPending: 0 });
    expect(upstreamCalls(k.trackingId)).toBe(1);
    const r = await record(s, k);
    expect(r).toMatchObject({ state: 'expired', upstreamStatus: 'processing', checks: 1 });
    expect(r.nextCheckAt).toBeUndefined();
    expect(await allEntities(s.storage, 'due')).toEqual([]);
    expect((await s.storage.store.list({ state: 'expired' })).items.map((i) => i.trackingId)).toEqual([
      k.trackingId,
    ]);
    expect(outcomes.lines).toEqual([`registered:pending:${k.trackingId}`, `sweep:expired:${k.trackingId}`]);
  });

  it('retries a 404 within the grace period, then gives up as not_found', async () => {
    const s = setup();
    const k = { customerId: guid(), trackingId: guid() }; // unknown upstream
    await s.storage.store.register(k, {}, new Date(T0));

    s.clock.set(T0 + 1000);
    expect(await s.sweeper().run()).toMatchObject({ claimed: 1, stillPending: 1, notFound: 0 });
    const first = await record(s, k);
    expect(first).toMatchObject({
      state: 'pending',
      lastError: { status: 404, failure: 'http', at: new Date(T0 + 1000).toISOString() },
    });

    s.clock.set(Date.parse(first.nextCheckAt ?? ''));
    expect(await s.sweeper().run()).toMatchObject({ claimed: 1, stillPending: 1, notFound: 0 });

    s.clock.set(T0 + 1000 + SETTINGS.notFoundGraceMs);
    expect(await s.sweeper().run()).toMatchObject({ claimed: 1, notFound: 1 });
    expect(upstreamCalls(k.trackingId)).toBe(3);
    const final = await record(s, k);
    expect(final).toMatchObject({ state: 'not_found', checks: 3, lastError: { status: 404 } });
    expect(await allEntities(s.storage, 'due')).toEqual([]);
  });

  it('a 404 followed by a real answer starts the grace period afresh', async () => {
    const s = setup();
    const k = { customerId: guid(), trackingId: guid() };
    await s.storage.store.register(k, {}, new Date(T0));
    s.clock.set(T0 + 1000);
    await s.sweeper().run(); // 404
    sims.partnerCenter.createBatch({ ...k, statuses: ['queued'] });
    s.clock.set(Date.parse((await record(s, k)).nextCheckAt ?? ''));
    await s.sweeper().run(); // queued
    expect((await record(s, k)).lastError).toBeUndefined();
    sims.partnerCenter.clearBatches();
    s.clock.set(T0 + 1000 + SETTINGS.notFoundGraceMs + MINUTE);
    expect(await s.sweeper().run()).toMatchObject({ stillPending: 1, notFound: 0 });
  });

  it('pauses the whole sweep for Retry-After on a 429 instead of hammering', async () => {
    const s = setup();
    const keys = await registerBatches(s, 6, { advanceEveryCalls: 0 });
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 7 }, { times: 1 });
    s.clock.set(T0 + 1000);

    const report = await s.sweeper({ concurrency: 2 }).run();

    expect(report).toMatchObject({ claimed: 6, finished: 6, throttled: 1, stoppedEarly: false });
    expect(sims.partnerCenter.counters.byStatus).toEqual({ '200': 6, '429': 1 });
    expect(s.clock.sleeps).toEqual([7000]);
    // Only the call already in flight next to the throttled one went out before the pause ended.
    const beforePauseEnd = s.reader.calls.filter((c) => c.atMs < T0 + 1000 + 7000);
    expect(beforePauseEnd.length).toBeLessThanOrEqual(2);
    for (const k of keys) expect((await record(s, k)).state).toBe('finished');
  });

  it('stops and reschedules when the Retry-After pause would pass the time budget', async () => {
    const s = setup();
    const keys = await registerBatches(s, 5, { advanceEveryCalls: 0 });
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 600 }, { times: 1 });
    s.clock.set(T0 + 1000);

    const report = await s.sweeper({ concurrency: 1, timeBudgetMs: 60_000 }).run();

    expect(report).toMatchObject({
      claimed: 1,
      throttled: 1,
      stillPending: 1,
      finished: 0,
      stoppedEarly: true,
    });
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect(s.clock.sleeps).toEqual([]);
    const records = await Promise.all(keys.map((k) => record(s, k)));
    const throttled = records.filter((r) => r.checks === 1);
    expect(throttled).toHaveLength(1);
    expect(throttled[0]?.nextCheckAt).toBe(new Date(T0 + 1000 + 600_000).toISOString());
    expect(throttled[0]?.lastError).toMatchObject({ status: 429, failure: 'throttled' });
    expect(records.filter((r) => r.nextCheckAt === new Date(T0).toISOString())).toHaveLength(4);
  });

  it('records upstream errors with backoff and never loses the tracking', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    sims.partnerCenter.inject({ kind: 'status', status: 500, code: '500', description: 'boom' });
    s.clock.set(T0 + 1000);

    const report = await s.sweeper().run();
    expect(report).toMatchObject({ claimed: 1, errors: 1, finished: 0 });
    const failed = await record(s, k);
    expect(failed).toMatchObject({
      state: 'pending',
      checks: 1,
      lastError: { status: 500, code: '500', failure: 'http', at: new Date(T0 + 1000).toISOString() },
    });
    expect(failed.lastError?.message).toContain('boom');
    expect(Date.parse(failed.nextCheckAt ?? '')).toBe(T0 + 1000 + 0.75 * MINUTE);

    sims.partnerCenter.clearFaults();
    s.clock.set(Date.parse(failed.nextCheckAt ?? ''));
    expect(await s.sweeper().run()).toMatchObject({ finished: 1 });
    const done = await record(s, k);
    expect(done.state).toBe('finished');
    expect(done.lastError).toBeUndefined();
  });

  it('one corrupt tracking does not stop the run, and is kept for later', async () => {
    const s = setup();
    const keys = await registerBatches(s, 3, { advanceEveryCalls: 0 });
    const bad = { customerId: guid(), trackingId: guid() };
    await s.storage.store.register(bad, {}, new Date(T0));
    await s.storage.clients
      .tableClient(s.storage.tables.trackings)
      .upsertEntity(
        { partitionKey: bad.customerId, rowKey: bad.trackingId, state: 'exploded', summary: '{nope' },
        'Merge',
      );
    s.clock.set(T0 + 1000);

    const warnings: { message: string; properties?: Record<string, unknown> }[] = [];
    const sweeper = new Sweeper({
      scheduler: s.storage.scheduler,
      results: s.storage.results,
      reader: s.reader,
      settings: SETTINGS,
      clock: s.clock.now,
      log: { ...silentLog, warn: (message, properties) => warnings.push({ message, properties }) },
    });

    const report = await sweeper.run();

    expect(report).toMatchObject({ claimed: 3, finished: 3, errors: 1 });
    expect(warnings).toEqual([
      {
        message: expect.stringContaining('Could not claim'),
        properties: { ...bad, error: expect.stringContaining('CorruptTrackingError') },
      },
    ]);
    for (const k of keys) expect((await record(s, k)).state).toBe('finished');
    const due = await allEntities(s.storage, 'due');
    expect(due.map((e) => e.trackingId)).toEqual([bad.trackingId]);
    expect(String(due[0]?.rowKey)).toMatch(new RegExp(`^0*${T0 + 1000 + SETTINGS.maxBackoffMs}_`));
  });

  it('a stale due entry of a finished tracking is cleaned up without asking Partner Center', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    const details = sims.partnerCenter.getBatch(k.customerId, k.trackingId) as BatchUploadDetails;
    await s.storage.store.recordTerminal(k, details, new Date(T0 + 500));
    // As if a crash had happened after the record was written but before its due entry was removed.
    await leaveDueEntry(s, k, T0);
    s.clock.set(T0 + 1000);

    const report = await s.sweeper().run();

    expect(report).toMatchObject({ claimed: 0, skipped: 1 } satisfies Partial<SweepReport>);
    expect(sims.partnerCenter.counters.total).toBe(0);
    expect(await allEntities(s.storage, 'due')).toEqual([]);
  });

  it('an aborted run stops claiming and leaves its tracking due', async () => {
    const s = setup();
    const keys = await registerBatches(s, 3, { advanceEveryCalls: 0 });
    const controller = new AbortController();
    const aborting: BatchStatusReader = {
      getBatchStatus: (customerId, trackingId, options) => {
        controller.abort();
        return client.getBatchStatus(customerId, trackingId, options);
      },
    };
    s.clock.set(T0 + 1000);
    const sweeper = new Sweeper({
      scheduler: s.storage.scheduler,
      results: s.storage.results,
      reader: aborting,
      settings: { ...SETTINGS, concurrency: 1 },
      clock: s.clock.now,
    });

    const report = await sweeper.run({ abortSignal: controller.signal });

    expect(report).toMatchObject({ claimed: 1, finished: 0, errors: 0, stoppedEarly: true });
    const records = await Promise.all(keys.map((k) => record(s, k)));
    expect(records.map((r) => r.state)).toEqual(['pending', 'pending', 'pending']);
    expect(records.filter((r) => r.nextCheckAt === new Date(T0 + 1000).toISOString())).toHaveLength(1);
    expect((await s.sweeper().run()).finished).toBe(3);
  });

  it('a tracking cancelled while claimed stays cancelled', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    const cancelling: BatchStatusReader = {
      getBatchStatus: async (...args) => {
        const response = await client.getBatchStatus(...args);
        await s.storage.store.cancel(k, s.clock.now());
        return response;
      },
    };
    s.clock.set(T0 + 1000);
    const sweeper = new Sweeper({
      scheduler: s.storage.scheduler,
      results: s.storage.results,
      reader: cancelling,
      settings: SETTINGS,
      clock: s.clock.now,
    });

    const report = await sweeper.run();

    expect(report).toMatchObject({ claimed: 1, finished: 0, skipped: 1 });
    expect((await record(s, k)).state).toBe('cancelled');
    expect(await allEntities(s.storage, 'due')).toEqual([]);
  });
});
