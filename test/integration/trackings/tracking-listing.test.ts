import { RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import type { BatchKey } from '../../../shared/partner-center/model.js';
import { ValidationError } from '../../../shared/trackings/errors.js';
import { MAX_LIST_TOP } from '../../../shared/trackings/model.js';
import { ALL_PARTITION, listRowKey } from '../../../shared/trackings/tracking-entities.js';
import { listHintEntities } from '../../../shared/trackings/tracking-listing.js';
import { rejectionOf } from '../../support/rejection.js';
import { allEntities, guid, key, StorageCounter, type TestStorage, testStorage } from './storage-fixture.js';

const T0 = new Date('2025-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const token = (cursor: unknown) => Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
/** A table-service continuation token as the SDK encodes it. */
const serviceToken = (cursor: unknown) => Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64');

async function refused(storage: TestStorage, continuationToken: string) {
  const error = await rejectionOf(storage.store.list({ continuationToken }), ValidationError);
  expect(error.problems).toEqual([
    { field: 'continuationToken', message: 'is not a token this service issued' },
  ]);
}

/** `count` trackings registered a second apart, oldest first. */
async function registered(storage: TestStorage, count: number): Promise<BatchKey[]> {
  const keys = Array.from({ length: count }, () => key());
  for (const [i, k] of keys.entries()) await storage.store.register(k, {}, at(i * 1000));
  return keys;
}

async function registeredOne(storage: TestStorage): Promise<BatchKey> {
  return (await registered(storage, 1))[0] as BatchKey;
}

/** The decoded cursor of a continuation token this service issued. */
const cursorOf = (continuationToken: string | undefined) =>
  JSON.parse(Buffer.from(continuationToken as string, 'base64url').toString('utf8')) as unknown;

/**
 * Entities in the listing's `all` partition that name no tracking, newer than every registration
 * at `T0 + …`: each one fills a slot of an index page without giving a hint.
 */
async function hintlessRows(storage: TestStorage, count: number): Promise<void> {
  const listing = storage.clients.tableClient(storage.tables.list);
  for (let i = 1; i <= count; i++) {
    await listing.upsertEntity({
      partitionKey: ALL_PARTITION,
      rowKey: listRowKey(key(), T0.getTime() + 3_600_000 + i),
    });
  }
}

describe('TrackingListing continuation tokens', () => {
  it('refuses anything it did not issue, with one problem naming the field', async () => {
    const storage = testStorage();
    const rowKey = listRowKey(key(), T0.getTime());
    for (const forged of [
      'has spaces',
      'has+plus',
      'has=padding',
      `${token({ v: 1 }).slice(0, -2)}!!`,
      // Node's base64 decoder skips characters outside the alphabet: only the pattern refuses these.
      `!!${token({ v: 1 })}`,
      `${token({ v: 1 })}!!`,
      Buffer.from('not json', 'utf8').toString('base64url'),
      token(1),
      token(null),
      token('v'),
      token({ v: 2, a: rowKey }),
      token({ a: rowKey }),
      token({ v: 1, a: 5 }),
      token({ v: 1, a: `${rowKey}x` }),
      token({ v: 1, s: 5 }),
      token({ v: 1, s: 'not base64!' }),
      token({ v: 1, s: `*${serviceToken({ nextPartitionKey: 'p' })}` }),
      token({ v: 1, s: `${serviceToken({ nextPartitionKey: 'p' })}*` }),
      token({ v: 1, s: serviceToken('a string') }),
      token({ v: 1, s: serviceToken(null) }),
      token({ v: 1, s: serviceToken({ nextRowKey: 'r' }) }),
      token({ v: 1, s: serviceToken({ nextPartitionKey: 7 }) }),
      token({ v: 1, s: serviceToken({ nextPartitionKey: 'p', nextRowKey: 7 }) }),
      token({ v: 1, s: Buffer.from('{"nextPartitionKey":', 'utf8').toString('base64') }),
      token({ v: 1, s: serviceToken({ nextPartitionKey: 'p'.repeat(400) }) }),
    ]) {
      await refused(storage, forged);
    }
  });

  it('accepts the longest token it could issue (1024 characters) and refuses a longer one', async () => {
    const storage = testStorage();
    const k = await registeredOne(storage);
    const rowKey = listRowKey(k, T0.getTime() + 1);
    // JSON of 768 bytes is 1024 base64url characters; unknown fields are ignored.
    const sized = (bytes: number) => {
      const base = JSON.stringify({ v: 1, a: rowKey, p: '' });
      return token({ v: 1, a: rowKey, p: 'x'.repeat(bytes - base.length) });
    };
    expect(sized(768)).toHaveLength(1024);
    expect((await storage.store.list({ continuationToken: sized(768) })).items).toHaveLength(1);
    expect(sized(769).length).toBeGreaterThan(1024);
    await refused(storage, sized(769));
  });

  it('accepts a service position of 512 characters, the most the table service is allowed', async () => {
    const storage = testStorage();
    await registeredOne(storage);
    // 384 bytes of JSON are 512 base64 characters.
    const base = JSON.stringify({ nextPartitionKey: '' });
    const longest = serviceToken({ nextPartitionKey: 'p'.repeat(384 - base.length) });
    expect(longest).toHaveLength(512);
    await expect(
      storage.store.list({ continuationToken: token({ v: 1, s: longest }) }),
    ).resolves.toBeDefined();
    const longer = serviceToken({ nextPartitionKey: 'p'.repeat(385 - base.length) });
    expect(longer.length).toBeGreaterThan(512);
    await refused(storage, token({ v: 1, s: longer }));
  });

  it('starts from the beginning for an empty token or one with no position', async () => {
    const storage = testStorage();
    await registered(storage, 2);
    expect((await storage.store.list({ continuationToken: '' })).items).toHaveLength(2);
    expect((await storage.store.list({ continuationToken: token({ v: 1 }) })).items).toHaveLength(2);
  });

  it('refuses, as the caller’s mistake, a service token the table service answers 400 to; other faults stay faults', async () => {
    // Azurite accepts any position; Azure answers a forged one with 400. A policy plays Azure here.
    let answer: { status: number; when: 'continued' | 'always' } | undefined;
    const storage = testStorage({
      tablePolicies: [
        {
          name: 'forgedTokenAnswer',
          sendRequest: async (request, next) => {
            const continued = request.url.includes('NextPartitionKey=');
            if (answer && request.method === 'GET' && (continued || answer.when === 'always')) {
              throw new RestError('The continuation token is invalid.', {
                statusCode: answer.status,
                request,
              });
            }
            return next(request);
          },
        },
      ],
    });
    await registered(storage, 1);
    const forged = token({ v: 1, s: serviceToken({ nextPartitionKey: '1!8!YWxs', nextRowKey: '1!4!eA--' }) });

    answer = { status: 400, when: 'continued' };
    await refused(storage, forged);
    answer = { status: 500, when: 'continued' };
    expect((await rejectionOf(storage.store.list({ continuationToken: forged }), RestError)).statusCode).toBe(
      500,
    );
    answer = { status: 400, when: 'always' };
    expect((await rejectionOf(storage.store.list(), RestError)).statusCode).toBe(400);
  });

  it('continues after the last item of a full page, and ends without a token', async () => {
    const counter = new StorageCounter();
    const storage = testStorage({ observer: counter.observer });
    const [oldest, middle, newest] = (await registered(storage, 3)) as [BatchKey, BatchKey, BatchKey];
    counter.reset();
    const page = await storage.store.list({ top: 2 });
    expect(page.items.map((r) => r.trackingId)).toEqual([newest.trackingId, middle.trackingId]);
    // A page that fills at once costs one index query.
    expect(counter.count('list', 'query')).toBe(1);
    expect(JSON.parse(Buffer.from(page.continuationToken as string, 'base64url').toString('utf8'))).toEqual({
      v: 1,
      a: listRowKey(middle, at(1000).getTime()),
    });
    const last = await storage.store.list({ top: 2, continuationToken: page.continuationToken });
    expect(last).toEqual({ items: [expect.objectContaining({ trackingId: oldest.trackingId })] });
    expect(await storage.store.list({ top: 3 })).not.toHaveProperty('continuationToken');
  });

  it('fills a page that stopped short from the next index page, asking only for what is missing', async () => {
    const counter = new StorageCounter();
    const storage = testStorage({ observer: counter.observer });
    const [oldest, middle, newest] = (await registered(storage, 3)) as [BatchKey, BatchKey, BatchKey];
    await hintlessRows(storage, 1);
    counter.reset();

    // The first index page holds the hintless row and `newest`; the second is asked for one more.
    const page = await storage.store.list({ top: 2 });
    expect(page).toEqual({
      items: [await storage.store.get(newest), await storage.store.get(middle)],
      continuationToken: expect.any(String),
    });
    expect(cursorOf(page.continuationToken)).toEqual({ v: 1, a: listRowKey(middle, at(1000).getTime()) });
    expect(counter.count('list', 'query')).toBe(2);
    expect(await storage.store.list({ top: 2, continuationToken: page.continuationToken })).toEqual({
      items: [await storage.store.get(oldest)],
    });
  });

  it('reads at most five index pages a call; a page that found nothing carries the scan position on', async () => {
    const counter = new StorageCounter();
    const storage = testStorage({ observer: counter.observer });
    const k = await registeredOne(storage);
    await hintlessRows(storage, 6);
    counter.reset();

    // top 1: each index page holds one hintless row, so five pages find nothing.
    const first = await storage.store.list({ top: 1 });
    expect(first).toEqual({ items: [], continuationToken: expect.any(String) });
    expect(counter.count('list', 'query')).toBe(5);
    expect(cursorOf(first.continuationToken)).toEqual({ v: 1, s: expect.any(String) });

    counter.reset();
    // The last hintless row, then the registration: the scan went on, it did not start over.
    expect(await storage.store.list({ top: 1, continuationToken: first.continuationToken })).toEqual({
      items: [await storage.store.get(k)],
    });
    expect(counter.count('list', 'query')).toBe(2);
  });
});

describe('TrackingListing hints', () => {
  it('writes one hint in partition all and one in the customer’s, with the state', () => {
    const k = key();
    const rowKey = listRowKey(k, T0.getTime());
    expect(listHintEntities(k, T0.getTime(), 'pending')).toEqual([
      { partitionKey: 'all', rowKey, customerId: k.customerId, trackingId: k.trackingId, state: 'pending' },
      {
        partitionKey: `c_${k.customerId}`,
        rowKey,
        customerId: k.customerId,
        trackingId: k.trackingId,
        state: 'pending',
      },
    ]);
  });

  it('returns what the record says when a state hint is stale, and repairs the hint', async () => {
    const storage = testStorage();
    const [stale, fresh] = (await registered(storage, 2)) as [BatchKey, BatchKey];
    await storage.store.cancel(stale, at(5000));
    // A crash between the record and its hints: the hints still say pending.
    const listing = storage.clients.tableClient(storage.tables.list);
    for (const hint of listHintEntities(stale, T0.getTime(), 'pending')) {
      await listing.upsertEntity(hint, 'Replace');
    }

    const pending = await storage.store.list({ state: 'pending' });
    expect(pending.items.map((r) => r.trackingId)).toEqual([fresh.trackingId]);
    const hints = await allEntities(storage, 'list');
    expect(
      hints.filter((h) => h.trackingId === stale.trackingId).map((h) => [h.partitionKey, h.state]),
    ).toEqual(
      expect.arrayContaining([
        [ALL_PARTITION, 'cancelled'],
        [`c_${stale.customerId}`, 'cancelled'],
      ]),
    );
    expect((await storage.store.list({ state: 'cancelled' })).items.map((r) => r.trackingId)).toEqual([
      stale.trackingId,
    ]);
  });

  it('skips hints that name no tracking, or a tracking without a record', async () => {
    const storage = testStorage();
    const k = await registeredOne(storage);
    const listing = storage.clients.tableClient(storage.tables.list);
    const orphan = { customerId: guid(), trackingId: guid() };
    await listing.upsertEntity(listHintEntities(orphan, T0.getTime() + 10, 'pending')[0] as never, 'Replace');
    await listing.upsertEntity({
      partitionKey: ALL_PARTITION,
      rowKey: listRowKey(orphan, T0.getTime() + 20),
    });
    await listing.upsertEntity({
      partitionKey: ALL_PARTITION,
      rowKey: 'not-a-listing-key',
      customerId: orphan.customerId,
      trackingId: orphan.trackingId,
    });

    const all = await storage.store.list();
    expect(all).toEqual({ items: [expect.objectContaining({ trackingId: k.trackingId })] });
  });

  it('removes both hints of a registration, and ignores hints already gone', async () => {
    const storage = testStorage();
    const k = await registeredOne(storage);
    await storage.records.listing.removeHints(k, T0.getTime());
    await storage.records.listing.removeHints(k, T0.getTime());
    expect(await allEntities(storage, 'list')).toEqual([]);
  });
});

describe('TrackingListing filters', () => {
  it('refuses a top outside 1..200 with one problem, before reading anything', async () => {
    const storage = testStorage();
    for (const top of [0, MAX_LIST_TOP + 1, 1.5]) {
      const error = await rejectionOf(storage.store.list({ top }), ValidationError);
      expect(error.problems).toEqual([{ field: 'top', message: 'must be a whole number from 1 to 200' }]);
    }
  });

  it('asks the index for the state asked for: one page of top 1 finds the older cancelled tracking', async () => {
    const storage = testStorage();
    const [cancelled] = await registered(storage, 3);
    await storage.store.cancel(cancelled as BatchKey, at(10_000));
    // Newest first: two pending trackings are newer. Filtering the records alone would spend the
    // one-item page on a pending one and answer nothing.
    const page = await storage.store.list({ state: 'cancelled', top: 1 });
    expect(page.items.map((r) => r.trackingId)).toEqual([cancelled?.trackingId]);
  });
});
