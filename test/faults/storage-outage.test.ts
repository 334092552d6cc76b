import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAzurite, startAzurite } from '../../dev/azurite.js';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import type { AppServices } from '../../shared/composition.js';
import { ResultStore } from '../../shared/trackings/result-store.js';
import { Sweeper } from '../../shared/trackings/sweep.js';
import { SweepScheduler } from '../../shared/trackings/sweep-scheduler.js';
import { trackingTableNames } from '../../shared/trackings/tracking-entities.js';
import { TrackingRecords } from '../../shared/trackings/tracking-records.js';
import type { TrackingTables } from '../../shared/trackings/tracking-tables.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../support/app-settings.js';
import { freePorts } from '../support/free-port.js';
import { type BatchKey, type HttpInvocation, invokeGetTracking, invokeRegister } from '../support/invoke.js';
import { waitFor } from '../support/wait.js';

// Storage goes away in the middle of a sweep and comes back with its data: an Azurite of this
// file's own, persistent, on fixed ports, stopped and started again. Nothing may be lost or doubled.
const names = uniqueStorageNames('so');
let sims: RunningSimulators;
let azurite: RunningAzurite;
let ports: { blobPort: number; tablePort: number };
let location: string;
let app: AppServices;
let registerTracking: typeof import('../../functions/registerTracking.js').registerTracking;
let getTracking: typeof import('../../functions/getTracking.js').getTracking;

beforeAll(async () => {
  const [blobPort, tablePort] = await freePorts(2);
  ports = { blobPort: blobPort!, tablePort: tablePort! };
  // Our own folder: startAzurite deletes a folder it created itself when it stops.
  location = mkdtempSync(join(tmpdir(), 'azurite-outage-'));
  azurite = await startAzurite({ persistent: true, location, ...ports });
  sims = await startSimulatorsForHandlers({
    ...trackingStorageSettings(names, azurite.connectionString),
    SWEEP_CONCURRENCY: '2',
    SWEEP_LEASE_SECONDS: '60',
    SWEEP_INITIAL_BACKOFF_SECONDS: '1',
    SWEEP_MAX_BACKOFF_SECONDS: '8',
  });
  ({ registerTracking } = await import('../../functions/registerTracking.js'));
  ({ getTracking } = await import('../../functions/getTracking.js'));
  app = (await import('../../shared/composition.js')).services();
});

afterAll(async () => {
  await sims?.stop();
  await azurite?.stop();
  if (location) rmSync(location, { recursive: true, force: true });
});

/**
 * The sweep's side of tracking storage on the same storage, with the SDKs' retries shortened (two retries, 50 ms) so
 * that an outage outlasts them in test time (the app's own clients keep the SDKs' longer default retries).
 */
function quickFailingStore(connectionString: string): { scheduler: SweepScheduler; results: ResultStore } {
  const retryOptions = { maxRetries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 100 };
  const tableNames = trackingTableNames(names.tablePrefix);
  const table = (name: string) =>
    TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true, retryOptions });
  const clients = {
    trackings: table(tableNames.trackings),
    due: table(tableNames.due),
    list: table(tableNames.list),
  };
  let ensured: Promise<void> | undefined;
  const tables: TrackingTables = {
    ...clients,
    ensure: () => {
      ensured ??= Promise.all(Object.values(clients).map((c) => c.createTable())).then(
        () => undefined,
        (error: unknown) => {
          ensured = undefined;
          throw error;
        },
      );
      return ensured;
    },
  };
  const container = BlobServiceClient.fromConnectionString(connectionString, {
    retryOptions: { maxTries: 3, retryDelayInMs: 50, maxRetryDelayInMs: 100 },
  }).getContainerClient(names.container);
  const results = new ResultStore({
    container,
    ensure: async () => void (await container.createIfNotExists()),
  });
  return { scheduler: new SweepScheduler(new TrackingRecords({ tables, results })), results };
}

class TestClock {
  ms = Date.now();
  readonly now = () => new Date(this.ms);
  readonly sleep = async (ms: number) => {
    this.ms += ms;
  };
}

function sweeper({ scheduler, results }: ReturnType<typeof quickFailingStore>, clock: TestClock): Sweeper {
  return new Sweeper({
    scheduler,
    results,
    reader: app.partnerCenter,
    settings: app.settings.sweep,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
}

function getRecord(k: BatchKey): Promise<HttpInvocation> {
  return invokeGetTracking(getTracking, k);
}

function register(body: unknown): Promise<HttpInvocation> {
  return invokeRegister(registerTracking, body);
}

function expectStorageUnavailable(res: HttpInvocation): void {
  expect(res.status).toBe(503);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  expect(res.headers.get('Retry-After')).toBe('5');
  expect(res.json).toMatchObject({ type: '/problems/storage-unavailable', status: 503 });
  expect(res.text).not.toContain(azurite.connectionString);
  expect(res.text).not.toMatch(/AccountKey|\n\s+at /);
}

describe('storage unavailable in the middle of a sweep', () => {
  it('loses nothing and stores each result once: the run ends with errors, callers get 503, the next sweeps finish the work', async () => {
    const customerId = crypto.randomUUID();
    const keys = Array.from({ length: 8 }, () => ({ customerId, trackingId: crypto.randomUUID() }));
    for (const [i, k] of keys.entries()) {
      sims.partnerCenter.createBatch({
        ...k,
        devices: 3,
        statuses: i % 2 ? ['finished'] : ['finished_with_errors'],
      });
      expect((await register(k)).status).toBe(201);
    }
    const final = (i: number) => (i % 2 ? 'finished' : 'finished_with_errors');

    // A sweep whose checks take a while, so that storage can vanish while it runs.
    sims.partnerCenter.inject({ kind: 'latency', ms: 1_500 });
    const clock = new TestClock();
    const store = quickFailingStore(azurite.connectionString);
    const running = sweeper(store, clock).run();
    await waitFor(() => sims.partnerCenter.counters.total >= 2, { description: 'two checks in flight' });
    await azurite.stop();

    const report = await running;
    expect(report.errors).toBeGreaterThan(0);
    expect(report.finished).toBeLessThan(keys.length);
    // Storage is down: a new sweep cannot even read what is due (the timer invocation fails and is
    // retried on the next schedule); callers get a 503 problem, never a 500.
    await expect(sweeper(store, clock).run()).rejects.toMatchObject({ name: 'RestError' });
    const [read, registered] = await Promise.all([
      getRecord(keys[0]!),
      register({ customerId, trackingId: crypto.randomUUID() }),
    ]);
    expectStorageUnavailable(read);
    expectStorageUnavailable(registered);

    // Storage comes back with its data, at the same address.
    azurite = await startAzurite({ persistent: true, location, ...ports });
    sims.partnerCenter.clearFaults();
    expect((await getRecord(keys[0]!)).json).toMatchObject({ state: 'pending' });

    for (let round = 0; round < 10; round++) {
      // Past the lease of the checks whose outcome could not be written.
      clock.ms += 2 * 60_000;
      await sweeper(store, clock).run();
      const states = await Promise.all(
        keys.map(async (k) => ((await getRecord(k)).json as { state: string }).state),
      );
      if (states.every((s) => s !== 'pending')) break;
    }
    for (const [i, k] of keys.entries()) {
      expect((await getRecord(k)).json).toMatchObject({
        state: final(i),
        upstreamStatus: final(i),
        summary: { devices: 3 },
      });
    }

    const blobs: string[] = [];
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      names.container,
    );
    for await (const blob of container.listBlobsFlat()) blobs.push(blob.name);
    expect(blobs.sort()).toEqual(keys.map((k) => `${k.customerId}/${k.trackingId}.json`).sort());
    const due = TableClient.fromConnectionString(
      azurite.connectionString,
      trackingTableNames(names.tablePrefix).due,
      {
        allowInsecureConnection: true,
      },
    );
    const left: unknown[] = [];
    for await (const entity of due.listEntities()) left.push(entity);
    expect(left).toEqual([]);

    // A check whose answer was lost with the outage is asked again, once; nothing after the terminal answer.
    for (const k of keys) {
      const answered = sims.partnerCenter.requests.filter(
        (r) => r.trackingId === k.trackingId && r.status === 200,
      ).length;
      expect(answered).toBeGreaterThanOrEqual(1);
      expect(answered).toBeLessThanOrEqual(2);
    }
    const before = sims.partnerCenter.counters.total;
    clock.ms += 60 * 60_000;
    expect((await sweeper(store, clock).run()).claimed).toBe(0);
    expect(sims.partnerCenter.counters.total).toBe(before);
  });
});
