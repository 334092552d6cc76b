import { type PipelinePolicy, type PipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { PartnerBudget } from '../../../shared/budget/partner-budget.js';
import type { SweepSettings } from '../../../shared/config/settings.js';
import { type Log, type LogProperties, silentLog } from '../../../shared/diagnostics/log.js';
import { PartnerCenterClient } from '../../../shared/partner-center/client.js';
import type { BatchStatusReader, BatchUploadDetails } from '../../../shared/partner-center/model.js';
import type { StorageClients } from '../../../shared/storage/clients.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import { type ResultContainer, ResultStore } from '../../../shared/trackings/result-store.js';
import { Sweeper, type SweeperOptions, type SweepReport } from '../../../shared/trackings/sweep.js';
import { SweepScheduler } from '../../../shared/trackings/sweep-scheduler.js';
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

/** Fails `getsToFail` reads of a stored result (a blob outage), then reads normally. */
class FlakyResults extends ResultStore {
  getsToFail = 0;
  override async get(...args: Parameters<ResultStore['get']>): Promise<BatchUploadDetails | undefined> {
    if (this.getsToFail > 0) {
      this.getsToFail -= 1;
      throw new RestError('Injected blob outage', { statusCode: 503 });
    }
    return super.get(...args);
  }
}

/** Counts the reads of stored results. */
class CountingResults extends ResultStore {
  gets = 0;
  override get(...args: Parameters<ResultStore['get']>): Promise<BatchUploadDetails | undefined> {
    this.gets += 1;
    return super.get(...args);
  }
}

/** Counts the claims the sweep starts. */
class CountingScheduler extends SweepScheduler {
  started = 0;
  override claim(...args: Parameters<SweepScheduler['claim']>) {
    this.started += 1;
    return super.claim(...args);
  }
}

/** Table requests that fail as in an outage (503, not retried) while `fails` picks them. */
class TableOutage {
  fails: (request: PipelineRequest, path: string) => boolean = () => false;
  readonly policy: PipelinePolicy = {
    name: 'tableOutage',
    sendRequest: async (request, next) => {
      if (this.fails(request, decodeURIComponent(new URL(request.url).pathname))) {
        throw new RestError('Injected storage outage', { statusCode: 503, request });
      }
      return next(request);
    },
  };
}

/** The sweep's warnings, as an operator reads them. */
class Warnings implements Log {
  readonly lines: { message: string; properties?: LogProperties }[] = [];
  readonly info = () => {};
  readonly error = () => {};
  readonly warn = (message: string, properties?: LogProperties) => {
    this.lines.push({ message, properties });
  };
}

/** A whole report: the counts given, every other count 0. */
function fullReport(counts: Partial<SweepReport>): SweepReport {
  return {
    claimed: 0,
    finished: 0,
    stillPending: 0,
    errors: 0,
    throttled: 0,
    expired: 0,
    notFound: 0,
    skipped: 0,
    durationMs: 0,
    stoppedEarly: false,
    ...counts,
  };
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
  sweeper: (overrides?: SweeperOverrides) => Sweeper;
}

type SweeperOverrides = Partial<SweepSettings> & {
  storage?: TestStorage;
  random?: () => number;
} & Pick<Partial<SweeperOptions>, 'reader' | 'log' | 'gate' | 'pageSize'>;

function setup(options: Parameters<typeof testStorage>[0] = {}): Setup {
  const storage = testStorage(options);
  const clock = new FakeClock(T0);
  const reader = new RecordingReader(client, clock);
  return {
    storage,
    clock,
    reader,
    sweeper: ({ storage: other, random, reader: otherReader, log, gate, pageSize, ...settings } = {}) =>
      new Sweeper({
        scheduler: (other ?? storage).scheduler,
        results: (other ?? storage).results,
        reader: otherReader ?? reader,
        settings: { ...SETTINGS, ...settings },
        clock: clock.now,
        random: random ?? (() => 0.5),
        sleep: clock.sleep,
        log,
        gate,
        pageSize,
      }),
  };
}

/** The setup's reader, where each call moves the test clock on by `ms` (a slow Partner Center). */
function takingTestTime(s: Setup, ms: number): BatchStatusReader {
  return {
    getBatchStatus: async (...args) => {
      const response = await s.reader.getBatchStatus(...args);
      s.clock.set(s.clock.ms + ms);
      return response;
    },
  };
}

/** Partner Center through a reader that aborts `controller` as each check begins (a host shutting down). */
function abortingReader(controller: AbortController): BatchStatusReader {
  return {
    getBatchStatus: (customerId, trackingId, options) => {
      controller.abort();
      return client.getBatchStatus(customerId, trackingId, options);
    },
  };
}

/** testStorage's `results` option: the result store as a subclass that counts, fails or crashes. */
function resultStoreAs(Store: new (target: ResultContainer) => ResultStore) {
  return (clients: StorageClients, container: string): ResultStore =>
    new Store({
      container: clients.containerClient(container),
      ensure: () => clients.ensureContainer(container),
    });
}

/** A setup whose result store is `Store`, at hand as `results`. */
function setupWithResults<T extends ResultStore>(
  Store: new (target: ResultContainer) => T,
): Setup & { results: T } {
  const s = setup({ results: resultStoreAs(Store) });
  return { ...s, results: s.storage.results as T };
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

/** Claims `k` at `atMs` as a sweep would that dies right after its claim. */
async function claimAndDie(s: Setup, k: { customerId: string; trackingId: string }, atMs: number) {
  for await (const page of s.storage.scheduler.dueEntries(new Date(atMs))) {
    const entry = page.find((e) => e.key.trackingId === k.trackingId);
    if (!entry) continue;
    const outcome = await s.storage.scheduler.claim(entry, new Date(atMs), SETTINGS.leaseMs);
    if (!outcome.claimed) throw new Error(`not claimed: ${outcome.reason}`);
    return;
  }
  throw new Error('not due');
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
      results: resultStoreAs(CrashAfterResultWrite),
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
    const slow = takingTestTime(s, 10_000);
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
    const aborting = abortingReader(controller);
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

describe('Sweeper: how much it takes on at once', () => {
  it('checks up to `concurrency` trackings at the same time', async () => {
    const s = setup();
    await registerBatches(s, 8, { advanceEveryCalls: 0 });
    const scheduler = new CountingScheduler(s.storage.records);
    // The first checks wait until every tracking claimed so far is being checked: the most
    // checks the sweep lets overlap then all overlap.
    let arrived = 0;
    let inFlight = 0;
    let mostInFlight = 0;
    let releaseFirst = () => {};
    const firstArrived = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const reader: BatchStatusReader = {
      getBatchStatus: async (...args) => {
        arrived += 1;
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        if (arrived >= scheduler.started) releaseFirst();
        try {
          await firstArrived;
          return await client.getBatchStatus(...args);
        } finally {
          inFlight -= 1;
        }
      },
    };
    s.clock.set(T0 + 1000);
    const sweeper = new Sweeper({
      scheduler,
      results: s.storage.results,
      reader,
      settings: { ...SETTINGS, concurrency: 4 },
      clock: s.clock.now,
      random: () => 0.5,
    });

    const report = await sweeper.run();

    expect(report).toStrictEqual(fullReport({ claimed: 8, finished: 8 }));
    expect(mostInFlight).toBe(4);
  });

  it('reads the due index a page of `pageSize` at a time, and stops reading where it stops claiming', async () => {
    const counter = new StorageCounter();
    const s = setup({ observer: counter.observer });
    await registerBatches(s, 6, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);
    counter.reset();

    const report = await s.sweeper({ pageSize: 2, maxClaimsPerRun: 2, concurrency: 1 }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 2, stillPending: 2, stoppedEarly: true }));
    // The second page holds the entry it stopped at; the third is never taken in.
    expect(counter.events.filter((e) => e.table === 'due' && e.operation === 'query')).toEqual([
      { table: 'due', operation: 'query', entities: 2 },
      { table: 'due', operation: 'query', entities: 2 },
    ]);
  });

  it('a check that ends exactly at the deadline is the last one of the run', async () => {
    const s = setup();
    await registerBatches(s, 4, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);
    // Each upstream call "takes" 10 s of test time: the second one ends at the 20 s deadline.
    const slow = takingTestTime(s, 10_000);

    const report = await s.sweeper({ reader: slow, concurrency: 1, timeBudgetMs: 20_000 }).run();

    expect(report).toStrictEqual(
      fullReport({ claimed: 2, stillPending: 2, durationMs: 20_000, stoppedEarly: true }),
    );
    expect(sims.partnerCenter.counters.total).toBe(2);
  });

  it('an entry whose claim fails does not count against maxClaimsPerRun', async () => {
    const s = setup();
    const bad = { customerId: guid(), trackingId: guid() };
    // Due first, so that the failed claim comes before the others.
    await s.storage.store.register(bad, {}, new Date(T0 - 1000));
    await s.storage.clients
      .tableClient(s.storage.tables.trackings)
      .upsertEntity({ partitionKey: bad.customerId, rowKey: bad.trackingId, state: 'exploded' }, 'Merge');
    await registerBatches(s, 2, { statuses: ['processing'] });
    s.clock.set(T0 + 1000);

    const report = await s.sweeper({ maxClaimsPerRun: 2, concurrency: 1 }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 2, stillPending: 2, errors: 1 }));
    expect(sims.partnerCenter.counters.total).toBe(2);
  });

  it("another instance's throttling pause that outlasts the time budget holds the sweep back before any claim", async () => {
    const s = setup();
    const keys = await registerBatches(s, 3, { advanceEveryCalls: 0 });
    s.clock.set(T0 + 1000);
    const budget = new PartnerBudget({ maxCallsPerMinute: 600, now: () => s.clock.ms, sleep: s.clock.sleep });
    budget.throttled(SETTINGS.timeBudgetMs + MINUTE, 'caller');

    const report = await s.sweeper({ gate: budget }).run();

    expect(report).toStrictEqual(fullReport({ stoppedEarly: true }));
    expect(sims.partnerCenter.counters.total).toBe(0);
    for (const k of keys) {
      expect(await record(s, k)).toMatchObject({
        state: 'pending',
        checks: 0,
        nextCheckAt: new Date(T0).toISOString(),
      });
    }
  });
});

describe('Sweeper: throttling', () => {
  it('a tracking throttled three times in one run is rescheduled for after the pause, not tried a fourth time', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    sims.partnerCenter.inject(
      { kind: 'throttle', retryAfterSeconds: 7 },
      { times: 3, trackingId: k.trackingId },
    );
    s.clock.set(T0 + 1000);

    const report = await s.sweeper().run();

    expect(report).toStrictEqual(
      fullReport({ claimed: 1, stillPending: 1, throttled: 3, durationMs: 14_000 }),
    );
    expect(s.reader.calls.map((c) => c.atMs)).toEqual([T0 + 1000, T0 + 8000, T0 + 15_000]);
    expect(s.clock.sleeps).toEqual([7000, 7000]);
    const throttled = await record(s, k);
    expect(throttled).toMatchObject({
      state: 'pending',
      checks: 1,
      nextCheckAt: new Date(T0 + 22_000).toISOString(),
      lastError: { status: 429, failure: 'throttled', at: new Date(T0 + 15_000).toISOString() },
    });

    s.clock.set(T0 + 22_000);
    expect(await s.sweeper().run()).toStrictEqual(fullReport({ claimed: 1, finished: 1 }));
  });

  it('a Retry-After pause that ends exactly at the deadline stops the sweep too', async () => {
    const s = setup();
    await registerBatches(s, 2, { advanceEveryCalls: 0 });
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 60 }, { times: 1 });
    s.clock.set(T0 + 1000);

    const report = await s.sweeper({ concurrency: 1, timeBudgetMs: 60_000 }).run();

    expect(report).toStrictEqual(
      fullReport({ claimed: 1, stillPending: 1, throttled: 1, stoppedEarly: true }),
    );
    expect(s.clock.sleeps).toEqual([]);
    expect(sims.partnerCenter.counters.total).toBe(1);
  });

  it('without an injected sleep, an abort during a Retry-After pause ends the wait at once', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    sims.partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 300 }, { times: 1 });
    const controller = new AbortController();
    const reader: BatchStatusReader = {
      getBatchStatus: async (...args) => {
        try {
          return await client.getBatchStatus(...args);
        } catch (error) {
          // The host shuts down once the sweep has taken the 429 in (and begun its wait).
          setImmediate(() => controller.abort());
          throw error;
        }
      },
    };
    // A clock that moves a millisecond each time it is read.
    let ms = T0 + 1000;
    const sweeper = new Sweeper({
      scheduler: s.storage.scheduler,
      results: s.storage.results,
      reader,
      settings: SETTINGS,
      clock: () => new Date(ms++),
      random: () => 0.5,
    });

    const report = await sweeper.run({ abortSignal: controller.signal });

    expect(report).toStrictEqual(
      fullReport({
        claimed: 1,
        stillPending: 1,
        throttled: 1,
        durationMs: expect.any(Number),
        stoppedEarly: true,
      }),
    );
    expect(upstreamCalls(k.trackingId)).toBe(1);
    const paused = await record(s, k);
    expect(paused.lastError).toMatchObject({ status: 429, failure: 'throttled' });
    // Back when the pause ends: 300 s after the 429.
    expect(Date.parse(paused.nextCheckAt ?? '') - Date.parse(paused.lastError?.at ?? '')).toBe(300_000);
  });
});

describe('Sweeper: what goes wrong on the way', () => {
  it('a tracking whose claim fails on a storage error stays due at its time for the next run', async () => {
    const outage = new TableOutage();
    const s = setup({ tablePolicies: [outage.policy] });
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    const recordPath = `/${s.storage.tables.trackings}(PartitionKey='${k.customerId}',RowKey='${k.trackingId}')`;
    let failures = 1;
    outage.fails = (request, path) => request.method === 'GET' && path.endsWith(recordPath) && failures-- > 0;
    s.clock.set(T0 + 1000);
    const warnings = new Warnings();

    const report = await s.sweeper({ log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ errors: 1 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Could not claim a due tracking; it stays due',
        properties: { ...k, error: 'RestError: Injected storage outage' },
      },
    ]);
    expect((await allEntities(s.storage, 'due')).map((e) => e.rowKey)).toEqual([dueRowKey(k, T0)]);
    expect(await s.sweeper().run()).toStrictEqual(fullReport({ claimed: 1, finished: 1 }));
  });

  it('an unexpected error while checking is logged; a Partner Center error is only recorded', async () => {
    const s = setup();
    const [broken, failing] = await registerBatches(s, 2, { advanceEveryCalls: 0 });
    if (!broken || !failing) throw new Error('no keys');
    sims.partnerCenter.inject(
      { kind: 'status', status: 500, code: '500', description: 'boom' },
      { trackingId: failing.trackingId },
    );
    const reader: BatchStatusReader = {
      getBatchStatus: (customerId, trackingId, options) => {
        if (trackingId === broken.trackingId) throw new TypeError('a bug in the client');
        return client.getBatchStatus(customerId, trackingId, options);
      },
    };
    s.clock.set(T0 + 1000);
    const warnings = new Warnings();

    const report = await s.sweeper({ reader, log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 2, errors: 2 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Unexpected error while checking a tracking',
        properties: { ...broken, error: 'TypeError: a bug in the client' },
      },
    ]);
    expect((await record(s, broken)).lastError).toEqual({
      at: new Date(T0 + 1000).toISOString(),
      message: 'Unexpected error while checking the batch status',
      failure: 'internal',
    });
    expect((await record(s, failing)).lastError).toMatchObject({ status: 500, failure: 'http' });
  });

  it('a tracking deleted while claimed is reported, and not written back', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0 });
    if (!k) throw new Error('no key');
    const deleting: BatchStatusReader = {
      getBatchStatus: async (...args) => {
        const response = await client.getBatchStatus(...args);
        await s.storage.clients
          .tableClient(s.storage.tables.trackings)
          .deleteEntity(k.customerId, k.trackingId);
        return response;
      },
    };
    s.clock.set(T0 + 1000);
    const warnings = new Warnings();

    const report = await s.sweeper({ reader: deleting, log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 1, errors: 1 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Checking a tracking failed; it is retried when its lease ends',
        properties: {
          ...k,
          error: `Error: Tracking ${k.customerId}/${k.trackingId} disappeared while claimed`,
        },
      },
    ]);
    expect(await s.storage.store.get(k)).toBeUndefined();
  });

  it('due-index updates that cannot be written are logged, and redone by the next sweep', async () => {
    const outage = new TableOutage();
    const s = setup({ tablePolicies: [outage.policy] });
    const keys = await registerBatches(s, 2, { statuses: ['processing'] });
    const duePath = `/${s.storage.tables.due}(`;
    outage.fails = (request, path) =>
      request.method !== 'GET' && (path.endsWith('/$batch') || path.includes(duePath));
    s.clock.set(T0 + 1000);
    const warnings = new Warnings();

    const report = await s.sweeper({ log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 2, stillPending: 2 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Some due-index updates could not be written; the next sweep redoes them',
        properties: { error: 'AggregateError: 2 due-index update(s) could not be written' },
      },
    ]);
    // The entries that made them due still stand...
    const old = keys.map((k) => dueRowKey(k, T0)).sort();
    expect((await allEntities(s.storage, 'due')).map((e) => e.rowKey).sort()).toEqual(old);

    // ...and the next sweep moves them to the records' next checks.
    outage.fails = () => false;
    expect(await s.sweeper().run()).toStrictEqual(fullReport({ skipped: 2 }));
    const next = [];
    for (const k of keys) next.push(dueRowKey(k, Date.parse((await record(s, k)).nextCheckAt ?? '')));
    expect((await allEntities(s.storage, 'due')).map((e) => e.rowKey).sort()).toEqual(next.sort());
  });

  it('a run aborted at the moment its tracking fell due gives it back due, with no check counted', async () => {
    const s = setup();
    const keys = await registerBatches(s, 3, { advanceEveryCalls: 0 });
    const controller = new AbortController();
    const aborting = abortingReader(controller);
    // Registered at T0, due at T0: given back at T0, it goes back to the entry it came from.
    s.clock.set(T0);

    const report = await s
      .sweeper({ reader: aborting, concurrency: 1 })
      .run({ abortSignal: controller.signal });

    expect(report).toStrictEqual(fullReport({ claimed: 1, stillPending: 1, stoppedEarly: true }));
    for (const k of keys) {
      expect(await record(s, k)).toEqual({
        ...k,
        state: 'pending',
        registeredAt: new Date(T0).toISOString(),
        nextCheckAt: new Date(T0).toISOString(),
        checks: 0,
      });
    }
    const due = keys.map((k) => dueRowKey(k, T0)).sort();
    expect((await allEntities(s.storage, 'due')).map((e) => e.rowKey).sort()).toEqual(due);
    expect(await s.sweeper().run()).toStrictEqual(fullReport({ claimed: 3, finished: 3 }));
  });

  it("expired trackings leave the due index in one transaction with the run's other due-index changes", async () => {
    const counter = new StorageCounter();
    const s = setup({ observer: counter.observer });
    await registerBatches(s, 3, { statuses: ['processing'] });
    s.clock.set(T0 + SETTINGS.maxTrackingAgeMs);
    counter.reset();

    const report = await s.sweeper().run();

    expect(report).toStrictEqual(fullReport({ claimed: 3, expired: 3 }));
    expect(counter.events.filter((e) => e.table === 'due')).toEqual([
      { table: 'due', operation: 'query', entities: 3 },
      { table: 'due', operation: 'transaction', entities: 3 },
    ]);
    expect(await allEntities(s.storage, 'due')).toEqual([]);
  });
});

describe('Sweeper: results a crashed run stored', () => {
  it('only a claim whose predecessor died looks in the result store', async () => {
    const s = setupWithResults(CountingResults);
    const { results } = s;
    const [resumed, fresh] = await registerBatches(s, 2, { advanceEveryCalls: 0 });
    if (!resumed || !fresh) throw new Error('no setup');
    await claimAndDie(s, resumed, T0 + 1000);
    s.clock.set(T0 + 1000 + SETTINGS.leaseMs);

    const report = await s.sweeper().run();

    expect(report).toStrictEqual(fullReport({ claimed: 2, finished: 2 }));
    expect(results.gets).toBe(1);
    expect(upstreamCalls(resumed.trackingId)).toBe(1);
    expect(upstreamCalls(fresh.trackingId)).toBe(1);
  });

  it('a stored result that is not final is not trusted: the sweep asks Partner Center and replaces it', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0, devices: 3 });
    if (!k) throw new Error('no key');
    await claimAndDie(s, k, T0 + 1000);
    const upstream = sims.partnerCenter.getBatch(k.customerId, k.trackingId) as BatchUploadDetails;
    await s.storage.results.put(k, { ...upstream, status: 'processing' });
    s.clock.set(T0 + 1000 + SETTINGS.leaseMs);
    const warnings = new Warnings();

    const report = await s.sweeper({ log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 1, finished: 1 }));
    expect(upstreamCalls(k.trackingId)).toBe(1);
    expect(await record(s, k)).toMatchObject({ state: 'finished', checks: 1, summary: { devices: 3 } });
    expect(warnings.lines).toEqual([
      {
        message: 'Replacing an unreadable stored result',
        properties: {
          ...k,
          error: `CorruptResultError: The stored result ${ResultStore.blobName(k)} is not a final BatchUploadDetails document`,
        },
      },
    ]);
    // What the tracking's result reads is the final answer, not the document it found.
    const { details } = await client.getBatchStatus(k.customerId, k.trackingId);
    expect(await s.storage.results.get(k)).toEqual(details);
  });

  it('an unreadable stored result is logged and replaced by the answer of Partner Center', async () => {
    const s = setup();
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0, devices: 3 });
    if (!k) throw new Error('no key');
    await claimAndDie(s, k, T0 + 1000);
    const blobName = ResultStore.blobName(k);
    await s.storage.clients.ensureContainer(s.storage.names.resultContainer);
    await s.storage.clients
      .containerClient(s.storage.names.resultContainer)
      .getBlockBlobClient(blobName)
      .upload('{nope', 5);
    s.clock.set(T0 + 1000 + SETTINGS.leaseMs);
    const warnings = new Warnings();

    const report = await s.sweeper({ log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 1, finished: 1 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Replacing an unreadable stored result',
        properties: {
          ...k,
          error: `CorruptResultError: The stored result ${blobName} is not a final BatchUploadDetails document`,
        },
      },
    ]);
    expect(upstreamCalls(k.trackingId)).toBe(1);
    expect(await record(s, k)).toMatchObject({ state: 'finished', checks: 1, summary: { devices: 3 } });
    const { details } = await client.getBatchStatus(k.customerId, k.trackingId);
    expect(await s.storage.results.get(k)).toEqual(details);
  });

  it('a stored result that cannot be read for now is kept, and the tracking retried when the lease ends', async () => {
    const s = setupWithResults(FlakyResults);
    const { results } = s;
    const [k] = await registerBatches(s, 1, { advanceEveryCalls: 0, devices: 3 });
    if (!k) throw new Error('no setup');
    // A run that stored the result and died before recording it.
    await claimAndDie(s, k, T0 + 1000);
    await results.put(k, sims.partnerCenter.getBatch(k.customerId, k.trackingId) as BatchUploadDetails);
    const stored = await results.get(k);
    const claimedAt = T0 + 1000 + SETTINGS.leaseMs;
    s.clock.set(claimedAt);
    results.getsToFail = 1;
    const warnings = new Warnings();

    const report = await s.sweeper({ log: warnings }).run();

    expect(report).toStrictEqual(fullReport({ claimed: 1, errors: 1 }));
    expect(warnings.lines).toEqual([
      {
        message: 'Checking a tracking failed; it is retried when its lease ends',
        properties: { ...k, error: 'RestError: Injected blob outage' },
      },
    ]);
    expect(upstreamCalls(k.trackingId)).toBe(0);
    expect(await results.get(k)).toEqual(stored);
    expect((await record(s, k)).nextCheckAt).toBe(new Date(claimedAt + SETTINGS.leaseMs).toISOString());

    s.clock.set(claimedAt + SETTINGS.leaseMs);
    expect(await s.sweeper().run()).toStrictEqual(fullReport({ claimed: 1, finished: 1 }));
    // Completed from the stored result: Partner Center was never asked, and no check is counted.
    expect(upstreamCalls(k.trackingId)).toBe(0);
    expect(await record(s, k)).toMatchObject({ state: 'finished', checks: 0, summary: { devices: 3 } });
  });
});
