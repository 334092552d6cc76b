import { type PipelinePolicy, RestError } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';
import { describe, expect, inject, it } from 'vitest';
import type { BatchKey, BatchUploadDetails } from '../../../shared/partner-center/model.js';
import type { NotificationStatus, TrackingRecord } from '../../../shared/trackings/model.js';
import { dueRowKey, parseDueRowKey } from '../../../shared/trackings/tracking-entities.js';
import {
  type Claim,
  type CompletionNotifier,
  type LoadedTracking,
  TrackingRecords,
} from '../../../shared/trackings/tracking-records.js';
import { trackingTables } from '../../../shared/trackings/tracking-tables.js';
import { rejectionOf } from '../../support/rejection.js';
import { allEntities, key, StorageCounter, testStorage } from './storage-fixture.js';

const T0 = new Date('2025-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

/**
 * Makes Table storage fail chosen requests to the Trackings table (not its indexes): thrown before
 * they are sent, as a fault the SDK's retries have given up on would be.
 */
class TrackingsFaults {
  fault?: { method: string; status: number; times?: number };
  sent: string[] = [];
  readonly policy: PipelinePolicy = {
    name: 'trackingsFaults',
    sendRequest: async (request, next) => {
      const trackingsTable = /\/t[0-9a-f]{12}Trackings(\(|\?|$)/.test(new URL(request.url).pathname);
      if (!trackingsTable) return next(request);
      this.sent.push(request.method);
      const fault = this.fault;
      if (fault && fault.method === request.method && (fault.times === undefined || fault.times-- > 0)) {
        throw new RestError(`injected ${fault.status}`, { statusCode: fault.status, request });
      }
      return next(request);
    },
  };
}

function faultyStorage(options: { notifier?: CompletionNotifier } = {}) {
  const faults = new TrackingsFaults();
  const counter = new StorageCounter();
  const storage = testStorage({ tablePolicies: [faults.policy], observer: counter.observer, ...options });
  return { storage, faults, counter, records: storage.records };
}

/** The stored tracking, which the test has written before. */
async function stored(records: TrackingRecords, k: BatchKey): Promise<LoadedTracking> {
  const loaded = await records.load(k);
  if (!loaded) throw new Error(`${k.trackingId} was not stored`);
  return loaded;
}

function pending(k = key()): TrackingRecord {
  return { ...k, state: 'pending', registeredAt: T0.toISOString(), nextCheckAt: T0.toISOString(), checks: 0 };
}

const inProgress: BatchUploadDetails = { batchTrackingId: 'x', status: 'in_progress' };
const finished: BatchUploadDetails = { batchTrackingId: 'x', status: 'finished', devicesStatus: [] };

describe('TrackingRecords create and load', () => {
  it('creates once, answers false for an existing record, and throws any other fault', async () => {
    const { records, faults, counter } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    expect(await records.create(record)).toBe(true);
    expect(await records.create(record)).toBe(false);
    faults.fault = { method: 'POST', status: 503 };
    expect((await rejectionOf(records.create(pending()), RestError)).statusCode).toBe(503);
    expect(counter.count('trackings', 'insert')).toBe(1);
  });

  it('loads undefined (a read of none) for a missing record, and throws other faults', async () => {
    const { records, faults, counter } = faultyStorage();
    expect(await records.load(key())).toBeUndefined();
    expect(counter.events.filter((e) => e.table === 'trackings')).toEqual([
      { table: 'trackings', operation: 'read', entities: 0 },
    ]);
    faults.fault = { method: 'GET', status: 500 };
    expect((await rejectionOf(records.load(key()), RestError)).statusCode).toBe(500);
  });

  it('keeps a claim marker until the next write of the record', async () => {
    const { records } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    await records.create(record);
    const claimedEtag = await records.replace(await stored(records, record), at(1).toISOString());
    const claimed = await records.load(record);
    expect(claimed?.claimedAt).toBe(at(1).toISOString());
    expect(claimed?.etag).toBe(claimedEtag);
    await records.replace(await stored(records, record));
    expect(await records.load(record)).not.toHaveProperty('claimedAt');
  });
});

describe('TrackingRecords replace', () => {
  it('answers undefined for a stale ETag or a deleted record, and throws any other fault', async () => {
    const { records, faults } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    await records.create(record);
    const loaded = await stored(records, record);

    const etag = await records.replace(loaded);
    expect(etag).toEqual(expect.any(String));
    expect(etag).not.toBe(loaded.etag);
    expect(await records.replace(loaded)).toBeUndefined();

    faults.fault = { method: 'PUT', status: 500 };
    expect(
      (await rejectionOf(records.replace({ ...loaded, etag: etag as string }), RestError)).statusCode,
    ).toBe(500);
    faults.fault = undefined;
    await records.tables.trackings.deleteEntity(record.customerId, record.trackingId);
    expect(await records.replace({ ...loaded, etag: '*' })).toBeUndefined();
  });

  it('throws when storage answers an update without an ETag', async () => {
    const { storage } = faultyStorage();
    // Below the SDK's deserialization (perRetry), so the answer it reads has no ETag.
    const dropETag: PipelinePolicy = {
      name: 'dropETag',
      sendRequest: async (request, next) => {
        const response = await next(request);
        if (request.method === 'PUT') response.headers.delete('etag');
        return response;
      },
    };
    const tables = trackingTables(storage.clients, storage.names.tablePrefix);
    const records = new TrackingRecords({
      tables: {
        ...tables,
        trackings: TableClient.fromConnectionString(
          inject('azuriteConnectionString'),
          storage.tables.trackings,
          {
            allowInsecureConnection: true,
            additionalPolicies: [{ policy: dropETag, position: 'perRetry' }],
          },
        ),
      },
      results: storage.results,
    });
    const record = pending();
    await records.tables.ensure();
    await records.create(record);

    const error = await rejectionOf(records.replace(await stored(records, record)), Error);
    expect(error.message).toBe('Table storage answered an update without an ETag');
  });
});

describe('TrackingRecords updateNotification', () => {
  const notification: NotificationStatus = { state: 'pending', attempts: 0, eventId: 'evt-1', receivers: [] };

  it('writes the change, leaves the record alone when there is none, and answers undefined without a record', async () => {
    const { records, faults } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    await records.create(record);

    expect(await records.updateNotification(record, () => notification)).toEqual({ ...record, notification });
    faults.sent = [];
    expect(await records.updateNotification(record, () => undefined)).toEqual({ ...record, notification });
    expect(faults.sent).toEqual(['GET']);
    expect(await records.updateNotification(key(), () => notification)).toBeUndefined();
  });

  it('retries a conflict with what is stored then, and gives up after ten, naming the tracking', async () => {
    const { records, faults } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    await records.create(record);

    faults.fault = { method: 'PUT', status: 412, times: 1 };
    const seen: (NotificationStatus | undefined)[] = [];
    const written = await records.updateNotification(record, (current) => {
      seen.push(current.notification);
      return { ...notification, attempts: seen.length };
    });
    expect(written?.notification).toEqual({ ...notification, attempts: 2 });
    expect((await records.load(record))?.record.notification).toEqual({ ...notification, attempts: 2 });

    faults.fault = { method: 'PUT', status: 412 };
    faults.sent = [];
    const error = await rejectionOf(
      records.updateNotification(record, () => notification),
      Error,
    );
    expect(error.message).toBe(
      `Tracking ${record.customerId}/${record.trackingId} kept changing while its notification was updated`,
    );
    expect(faults.sent.filter((method) => method === 'PUT')).toHaveLength(10);
  });
});

describe('TrackingRecords announce', () => {
  const withEvent = (notification: Partial<NotificationStatus>): TrackingRecord => ({
    ...pending(),
    state: 'finished',
    nextCheckAt: undefined,
    notification: { state: 'pending', attempts: 0, receivers: [], ...notification },
  });

  it('has nothing to do without a notifier, without an event, or once the event is queued', async () => {
    let enqueued = 0;
    const notifier: CompletionNotifier = {
      attach: (record) => record,
      enqueue: async () => {
        enqueued++;
        return at(1);
      },
    };
    expect(await faultyStorage().records.announce(withEvent({ eventId: 'e' }))).toBe(true);
    const { records } = faultyStorage({ notifier });
    expect(await records.announce(withEvent({}))).toBe(true);
    expect(await records.announce(withEvent({ eventId: 'e', queuedAt: at(0).toISOString() }))).toBe(true);
    expect(enqueued).toBe(0);
  });

  it('queues the event and marks it queued; false when either fails, so a later sweep tries again', async () => {
    let queuedAt: Date | undefined = at(1);
    const notifier: CompletionNotifier = { attach: (record) => record, enqueue: async () => queuedAt };
    const { records, faults } = faultyStorage({ notifier });
    const record = withEvent({ eventId: 'evt-2', createdAt: at(0).toISOString() });
    await records.tables.ensure();
    await records.create(record);

    queuedAt = undefined;
    expect(await records.announce(record)).toBe(false);
    expect((await records.load(record))?.record.notification?.queuedAt).toBeUndefined();

    queuedAt = at(1);
    faults.fault = { method: 'PUT', status: 500 };
    expect(await records.announce(record)).toBe(false);
    faults.fault = undefined;
    expect(await records.announce(record)).toBe(true);
    expect((await records.load(record))?.record.notification?.queuedAt).toBe(at(1).toISOString());

    // Another event id stored meanwhile: that one is not marked by this announcement.
    const other = withEvent({ eventId: 'evt-3' });
    const replaced = { ...other, customerId: record.customerId, trackingId: record.trackingId };
    await records.replace({ ...(await stored(records, record)), record: replaced });
    expect(await records.announce(record)).toBe(true);
    expect((await records.load(record))?.record.notification).toEqual(replaced.notification);
  });

  it('marks an event queued once: an announcement from an older read (another sweep) writes nothing', async () => {
    const queued = [at(1), at(2)];
    const notifier: CompletionNotifier = { attach: (record) => record, enqueue: async () => queued.shift() };
    const { records, faults } = faultyStorage({ notifier });
    const record = withEvent({ eventId: 'evt-4', createdAt: at(0).toISOString() });
    await records.tables.ensure();
    await records.create(record);
    expect(await records.announce(record)).toBe(true);
    const marked = await stored(records, record);
    expect(marked.record.notification?.queuedAt).toBe(at(1).toISOString());

    faults.sent = [];
    // `record` is the read from before the first announcement: its event looks unqueued.
    expect(await records.announce(record)).toBe(true);
    expect(faults.sent).toEqual(['GET']);
    // Same ETag: not even an unchanged copy was written over it.
    expect(await records.load(record)).toEqual(marked);
  });
});

describe('TrackingRecords writeTerminal', () => {
  it('refuses an answer that is not terminal, before touching storage', async () => {
    const { records, faults } = faultyStorage();
    const k = key();
    const error = await rejectionOf(
      records.writeTerminal(k, inProgress, T0, { by: 'lookup', checked: true }),
      Error,
    );
    expect(error.message).toBe('Batch status "in_progress" is not terminal');
    expect(faults.sent).toEqual([]);
  });

  it('gives up after five conflicting attempts, naming the tracking, with the record still pending', async () => {
    const { records, faults, storage } = faultyStorage();
    const record = pending();
    await records.tables.ensure();
    await records.create(record);
    faults.fault = { method: 'PUT', status: 412 };
    faults.sent = [];

    const error = await rejectionOf(
      records.writeTerminal(record, finished, at(1), { by: 'lookup', checked: true }),
      Error,
    );
    expect(error.message).toBe(
      `Tracking ${record.customerId}/${record.trackingId} kept changing while being completed`,
    );
    expect(faults.sent.filter((method) => method === 'PUT')).toHaveLength(5);
    faults.fault = undefined;
    expect((await records.load(record))?.record.state).toBe('pending');
    expect(await storage.results.get(record)).toEqual(finished);
  });

  it("replaces a pending record and the sweep's own give-ups, never a cancel or a stored result", async () => {
    const { records } = faultyStorage();
    await records.tables.ensure();
    const outcomes: Record<string, string | undefined> = {};
    for (const state of ['pending', 'expired', 'not_found', 'cancelled', 'finished_with_errors'] as const) {
      const record = { ...pending(), state };
      await records.create(record);
      outcomes[state] = (
        await records.writeTerminal(record, finished, at(5), { by: 'lookup', checked: true })
      )?.state;
    }
    expect(outcomes).toEqual({
      pending: 'finished',
      expired: 'finished',
      not_found: 'finished',
      cancelled: 'cancelled',
      finished_with_errors: 'finished_with_errors',
    });
  });

  it('counts a check only when Partner Center was asked, and keeps the earlier start time', async () => {
    const { records } = faultyStorage();
    const [asked, resumed] = [pending(), { ...pending(), startedTime: at(-60_000).toISOString(), checks: 3 }];
    await records.tables.ensure();
    await records.create(asked);
    await records.create(resumed);

    const one = await records.writeTerminal(asked, finished, at(5), { by: 'sweep', checked: true });
    const other = await records.writeTerminal(resumed, finished, at(5), { by: 'sweep', checked: false });
    expect(one).toMatchObject({ checks: 1, lastCheckedAt: at(5).toISOString(), state: 'finished' });
    expect(one).not.toHaveProperty('startedTime');
    expect(other).toMatchObject({ checks: 3, startedTime: at(-60_000).toISOString() });
    expect(other).not.toHaveProperty('nextCheckAt');
  });
});

describe('TrackingRecords writeTerminal for a claim', () => {
  it("finding the record final already, queues the removal of the claim's due entries with the sweep's others", async () => {
    const { storage, records, counter } = faultyStorage();
    const k = key();
    await storage.store.register(k, {}, T0);
    const entry = parseDueRowKey(dueRowKey(k, T0.getTime()));
    if (!entry) throw new Error('unreadable row key');
    const outcome = await storage.scheduler.claim(entry, at(1), 60_000);
    if (!outcome.claimed) throw new Error(`not claimed: ${outcome.reason}`);
    // A caller cancels while the sweep asks Partner Center: the cancel stands.
    const cancelled = await storage.store.cancel(k, at(2));
    counter.reset();

    expect(
      await records.writeTerminal(k, finished, at(3), { by: 'sweep', checked: true, claim: outcome.claim }),
    ).toEqual(cancelled);
    expect(counter.events.filter((e) => e.table === 'due')).toEqual([]);
    expect((await allEntities(storage, 'due')).map((e) => e.rowKey)).toEqual(outcome.claim.dueRowKeys);

    await records.due.flush();
    expect(counter.events.filter((e) => e.table === 'due')).toEqual([
      { table: 'due', operation: 'transaction', entities: 1 },
    ]);
    expect(await allEntities(storage, 'due')).toEqual([]);
  });
});

describe('TrackingRecords checked', () => {
  const claim = (record: Partial<TrackingRecord> = {}): Claim => ({
    key: key(),
    record: {
      ...pending(),
      checks: 2,
      lastCheckedAt: at(-1).toISOString(),
      upstreamStatus: 'queued',
      ...record,
    },
    etag: 'W/"1"',
    dueRowKeys: [],
    resumed: false,
    firstNotFoundAt: at(-5).toISOString(),
    resultBlob: 'blob',
  });
  const lastError = { at: at(-1).toISOString(), message: 'Partner Center answered 503', status: 503 };

  it('counts a check and its time only when Partner Center was asked', () => {
    const { records } = faultyStorage();
    const asked = records.checked(claim(), { checked: true }, at(10), {});
    const notAsked = records.checked(claim(), { checked: false }, at(10), {});
    expect([asked.record.checks, asked.record.lastCheckedAt]).toEqual([3, at(10).toISOString()]);
    expect([notAsked.record.checks, notAsked.record.lastCheckedAt]).toEqual([2, at(-1).toISOString()]);
    expect(asked).toMatchObject({ etag: 'W/"1"', resultBlob: 'blob', firstNotFoundAt: at(-5).toISOString() });
  });

  it('keeps what a check leaves out, replaces what it gives, and clears what it sets to null', () => {
    const { records } = faultyStorage();
    const kept = records.checked(claim({ lastError }), { checked: true }, at(10), {});
    expect(kept.record).toMatchObject({ upstreamStatus: 'queued', lastError });
    expect(kept.firstNotFoundAt).toBe(at(-5).toISOString());

    const replaced = records.checked(
      claim({ lastError }),
      {
        checked: true,
        upstreamStatus: 'in_progress',
        startedTime: '2025-03-01T07:00:00',
        lastError: { ...lastError, status: 429 },
        firstNotFoundAt: at(7).toISOString(),
      },
      at(10),
      { nextCheckAt: at(60).toISOString() },
    );
    expect(replaced.record).toMatchObject({
      upstreamStatus: 'in_progress',
      startedTime: '2025-03-01T07:00:00.000Z',
      lastError: { status: 429 },
      nextCheckAt: at(60).toISOString(),
    });
    expect(replaced.firstNotFoundAt).toBe(at(7).toISOString());

    const cleared = records.checked(
      claim({ lastError, startedTime: at(-9).toISOString() }),
      { checked: true, lastError: null, firstNotFoundAt: null },
      at(10),
      { state: 'expired', nextCheckAt: undefined },
    );
    expect(cleared.record).not.toHaveProperty('lastError');
    expect(cleared.record).not.toHaveProperty('nextCheckAt');
    expect(cleared.record).toMatchObject({ state: 'expired', startedTime: at(-9).toISOString() });
    expect(cleared.firstNotFoundAt).toBeUndefined();
  });
});

describe('TrackingRepository under conflicts', () => {
  it('gives up a cancel after five conflicting attempts, naming the tracking', async () => {
    const { storage, faults } = faultyStorage();
    const k = key();
    await storage.store.register(k, {}, T0);
    faults.fault = { method: 'PUT', status: 412 };
    faults.sent = [];

    const error = await rejectionOf(storage.store.cancel(k, at(1)), Error);
    expect(error.message).toBe(
      `Tracking ${k.customerId}/${k.trackingId} kept changing while being cancelled`,
    );
    expect(faults.sent.filter((method) => method === 'PUT')).toHaveLength(5);
  });

  it('says so when a register conflicts on create but the winner cannot be read', async () => {
    const { storage, faults } = faultyStorage();
    const k = key();
    faults.fault = { method: 'POST', status: 409 };

    const error = await rejectionOf(storage.store.register(k, {}, T0), Error);
    expect(error.message).toBe(
      `Tracking ${k.customerId}/${k.trackingId} conflicted on create but cannot be read`,
    );
  });
});
