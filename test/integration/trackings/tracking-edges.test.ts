import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/trackings/errors.js';
import { MAX_LIST_TOP, MAX_NOTIFY_URLS } from '../../../shared/trackings/model.js';
import { CorruptResultError } from '../../../shared/trackings/result-store.js';
import { describeSweepReport } from '../../../shared/trackings/sweep-summary.js';
import { dueRowKey, parseDueRowKey } from '../../../shared/trackings/tracking-entities.js';
import { TrackingService } from '../../../shared/trackings/tracking-service.js';
import { rejectionOf } from '../../support/rejection.js';
import { allEntities, guid, key, testStorage } from './storage-fixture.js';

// Edges the mutation run found untested: the orphan grace of a due entry, the largest page, the
// webhook limits of a registration, and the names and lines that logs rely on.

const NOW = new Date('2025-03-01T08:00:00.000Z');
const MINUTE = 60_000;

describe('a due entry without a record (a register between its index entries and its record)', () => {
  it('is left alone for the grace period, then removed', async () => {
    const storage = testStorage();
    await storage.records.tables.ensure();
    const [young, old] = [key(), key()];
    for (const [k, ageMs] of [
      [young, 10 * MINUTE],
      [old, 10 * MINUTE + 1],
    ] as const) {
      const rowKey = dueRowKey(k, NOW.getTime() - ageMs);
      await storage.records.due.put(k, rowKey);
      const entry = parseDueRowKey(rowKey);
      if (!entry) throw new Error('unreadable row key');
      expect(await storage.scheduler.claim(entry, NOW, MINUTE)).toEqual({ claimed: false, reason: 'orphan' });
    }
    expect((await allEntities(storage, 'due')).map((e) => e.trackingId)).toEqual([young.trackingId]);
  });
});

describe('listing limits', () => {
  it('takes the largest page it documents, and no more', async () => {
    const storage = testStorage();
    expect(await storage.store.list({ top: MAX_LIST_TOP })).toEqual({ items: [] });
    await rejectionOf(storage.store.list({ top: MAX_LIST_TOP + 1 }), ValidationError);
  });
});

describe('webhook subscriptions of a registration', () => {
  const service = () => {
    const storage = testStorage();
    return new TrackingService({
      store: storage.store,
      results: storage.results,
      clock: () => NOW,
      allowedWebhookHosts: [{ exact: 'hooks.example.com' }],
    });
  };

  it('refuses a notify.url that is not a string, naming the field (the documented schema says so first)', async () => {
    const error = await rejectionOf(
      service().register({ customerId: guid(), trackingId: guid(), notify: { url: 7 } }),
      ValidationError,
    );
    expect(error.problems).toEqual([
      { field: 'notify.url', message: 'Invalid input: expected string, received number' },
    ]);
  });

  it('adds no webhook to a tracking that has ended: registering it again answers the record as it stands', async () => {
    const storage = testStorage();
    const svc = new TrackingService({
      store: storage.store,
      results: storage.results,
      clock: () => NOW,
      allowedWebhookHosts: [{ exact: 'hooks.example.com' }],
    });
    const ids = { customerId: guid(), trackingId: guid() };
    await svc.register(ids);
    const cancelled = await svc.cancel(ids.customerId, ids.trackingId);

    expect(await svc.register({ ...ids, notify: { url: 'https://hooks.example.com/late' } })).toEqual({
      record: cancelled,
      created: false,
    });
    expect(await storage.store.get(ids)).toEqual(cancelled);
  });

  it(`keeps at most ${MAX_NOTIFY_URLS} webhooks per tracking`, async () => {
    const svc = service();
    const ids = { customerId: guid(), trackingId: guid() };
    for (let i = 0; i < MAX_NOTIFY_URLS; i++) {
      await svc.register({ ...ids, notify: { url: `https://hooks.example.com/${i}` } });
    }
    const error = await rejectionOf(
      svc.register({ ...ids, notify: { url: 'https://hooks.example.com/one-too-many' } }),
      ValidationError,
    );
    expect(error.problems).toEqual([
      { field: 'notify.url', message: `a tracking has at most ${MAX_NOTIFY_URLS} webhooks` },
    ]);
  });
});

describe('names and lines that logs rely on', () => {
  it('a corrupt result is named as such', () => {
    expect(new CorruptResultError('c/t.json').name).toBe('CorruptResultError');
  });

  it('a sweep run is one line, saying whether it stopped early', () => {
    const report = {
      claimed: 3,
      finished: 1,
      stillPending: 1,
      errors: 1,
      throttled: 0,
      expired: 0,
      notFound: 0,
      skipped: 2,
      durationMs: 12.6,
      stoppedEarly: false,
    };
    expect(describeSweepReport(report)).toBe(
      'Sweep completed: claimed=3 finished=1 stillPending=1 errors=1 throttled=0 expired=0 notFound=0 skipped=2 durationMs=13',
    );
    expect(describeSweepReport({ ...report, stoppedEarly: true })).toMatch(
      /^Sweep stopped early: claimed=3 /,
    );
  });
});
