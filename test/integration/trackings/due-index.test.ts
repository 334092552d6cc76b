import { type PipelinePolicy, RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { StorageClients } from '../../../shared/storage/clients.js';
import { DueIndex, dueEntity } from '../../../shared/trackings/due-index.js';
import { DUE_PARTITION, dueRowKey } from '../../../shared/trackings/tracking-entities.js';
import type { StorageOperation } from '../../../shared/trackings/tracking-tables.js';
import { rejectionOf } from '../../support/rejection.js';
import { azuriteConnection, key, uniqueNames } from './storage-fixture.js';

const NOW = new Date('2025-03-01T08:00:00.000Z');
const MS = NOW.getTime();

/** A due index on a fresh table of the run's Azurite, with every request it reports. */
async function freshIndex(options: { refuse?: string; policies?: PipelinePolicy[] } = {}) {
  const clients = new StorageClients(azuriteConnection(), {
    tablePolicies: [refusing(options.refuse), ...(options.policies ?? [])],
  });
  const tableName = `${uniqueNames().tablePrefix}TrackingsDue`;
  await clients.ensureTable(tableName);
  const table = clients.tableClient(tableName);
  const requests: [StorageOperation, number][] = [];
  const index = new DueIndex(table, (operation, entities) => requests.push([operation, entities]));
  const rowKeys = async () => {
    const keys: string[] = [];
    for await (const entity of table.listEntities()) keys.push(entity.rowKey as string);
    return keys;
  };
  return { index, table, requests, rowKeys };
}

/** Fails with a 403 every request naming `marker` (in its URL or body), as storage would to a bad write. */
function refusing(marker: string | undefined): PipelinePolicy {
  return {
    name: 'refusing',
    sendRequest: async (request, next) => {
      const named = marker !== undefined && `${request.url} ${String(request.body ?? '')}`.includes(marker);
      if (!named) return next(request);
      throw new RestError('This request is not authorized to perform this operation.', {
        statusCode: 403,
        request,
      });
    },
  };
}

/** Every request as it goes out and as its answer comes back: `sent POST`, `answered GET`, … */
function wireLog(): { lines: string[]; policy: PipelinePolicy } {
  const lines: string[] = [];
  return {
    lines,
    policy: {
      name: 'wireLog',
      sendRequest: async (request, next) => {
        const what = request.url.includes('$batch') ? 'transaction' : request.method;
        lines.push(`sent ${what}`);
        const response = await next(request);
        lines.push(`answered ${what}`);
        return response;
      },
    },
  };
}

async function collect(pages: AsyncGenerator<{ rowKey: string }[]>): Promise<string[][]> {
  const seen: string[][] = [];
  for await (const page of pages) seen.push(page.map((entry) => entry.rowKey));
  return seen;
}

describe('DueIndex entries', () => {
  it('yields what is due at or before now, oldest first, a page at a time, and nothing later', async () => {
    const { index } = await freshIndex();
    const k = key();
    const due = [dueRowKey(k, MS - 3), dueRowKey(k, MS - 2), dueRowKey(k, MS - 1), dueRowKey(k, MS)];
    for (const rowKey of [...due].reverse()) await index.put(k, rowKey);
    await index.put(k, dueRowKey(k, MS + 1));

    expect(await collect(index.entries(NOW, { pageSize: 3 }))).toEqual([due.slice(0, 3), due.slice(3)]);
    expect((await collect(index.entries(new Date(MS - 4)))).flat()).toEqual([]);
  });

  it('parses each entry and removes unreadable ones on the way', async () => {
    const { index, table, requests, rowKeys } = await freshIndex();
    const k = key();
    const good = dueRowKey(k, MS - 10);
    await index.put(k, good);
    await table.upsertEntity({ partitionKey: DUE_PARTITION, rowKey: '000000000000001_not-a-key' });
    requests.length = 0;

    const entries: unknown[] = [];
    for await (const page of index.entries(NOW)) entries.push(...page);

    expect(entries).toEqual([{ rowKey: good, dueMs: MS - 10, key: k }]);
    expect(requests).toEqual([
      ['query', 2],
      ['delete', 1],
    ]);
    expect(await rowKeys()).toEqual([good]);
  });

  it('ends a walk stopped early (a sweep out of time) only once the page read ahead is answered', async () => {
    const wire = wireLog();
    const { index } = await freshIndex({ policies: [wire.policy] });
    const k = key();
    const [first, second] = [dueRowKey(k, MS - 2), dueRowKey(k, MS - 1)];
    for (const rowKey of [first, second]) await index.put(k, rowKey);
    wire.lines.length = 0;

    const seen: string[][] = [];
    for await (const page of index.entries(NOW, { pageSize: 1 })) {
      seen.push(page.map((entry) => entry.rowKey));
      break;
    }

    expect(seen).toEqual([[first]]);
    // Checked at once: the walk's end waited for the second page, which was already asked for.
    expect(wire.lines).toEqual(['sent GET', 'answered GET', 'sent GET', 'answered GET']);
  });

  it('lets a walk stop early when the page read ahead fails: no fault, unless that page is asked for', async () => {
    const { index, rowKeys } = await freshIndex({ refuse: 'NextPartitionKey=' });
    const k = key();
    const [first, second] = [dueRowKey(k, MS - 2), dueRowKey(k, MS - 1)];
    for (const rowKey of [first, second]) await index.put(k, rowKey);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const seen: string[][] = [];
      for await (const page of index.entries(NOW, { pageSize: 1 })) {
        seen.push(page.map((entry) => entry.rowKey));
        break;
      }
      expect(seen).toEqual([[first]]);
      // A storage round trip turns the event loop, so a rejection nobody handled has been reported.
      expect(await rowKeys()).toEqual([first, second]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    // Asked for, the failed page is the caller's error.
    expect((await rejectionOf(collect(index.entries(NOW, { pageSize: 1 })), RestError)).statusCode).toBe(403);
  });
});

describe('DueIndex single writes', () => {
  it('writes an entry naming its tracking, and removes one that is already gone as deleted', async () => {
    const { index, table, requests } = await freshIndex();
    const k = key();
    const rowKey = dueRowKey(k, MS);
    await index.put(k, rowKey);

    const stored = await table.getEntity(DUE_PARTITION, rowKey);
    expect(stored).toMatchObject(dueEntity(k, rowKey));
    expect(dueEntity(k, rowKey)).toEqual({ partitionKey: 'due', rowKey, ...k });
    await index.remove(rowKey);
    await index.remove(rowKey);
    expect(requests).toEqual([
      ['upsert', 1],
      ['delete', 1],
      ['delete', 0],
    ]);
  });

  it('throws a fault removing an entry other than "not found"', async () => {
    const refused = key();
    const { index, requests } = await freshIndex({ refuse: refused.trackingId });
    const error = await rejectionOf(index.remove(dueRowKey(refused, MS)), RestError);
    expect(error.statusCode).toBe(403);
    expect(requests).toEqual([]);
  });

  it('re-files to another row key (new entry written first), and does nothing for the same key', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const from = dueRowKey(k, MS);
    const to = dueRowKey(k, MS + 60_000);
    await index.put(k, from);
    requests.length = 0;

    await index.refile(k, from, from);
    expect(requests).toEqual([]);
    await index.refile(k, from, to);
    expect(requests).toEqual([
      ['upsert', 1],
      ['delete', 1],
    ]);
    expect(await rowKeys()).toEqual([to]);
  });

  it('removeAll removes each distinct key once, skipping undefined, at once or queued until flush', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const a = dueRowKey(k, MS);
    const b = dueRowKey(k, MS + 1);
    const c = dueRowKey(k, MS + 2);
    for (const rowKey of [a, b, c]) await index.put(k, rowKey);
    requests.length = 0;

    await index.removeAll([a, undefined, a]);
    expect(requests).toEqual([['delete', 1]]);
    await index.removeAll([undefined], { queued: true });
    await index.removeAll([b, c, b], { queued: true });
    expect(await rowKeys()).toEqual([b, c]);
    await index.flush();
    expect(requests).toEqual([
      ['delete', 1],
      ['transaction', 2],
    ]);
    expect(await rowKeys()).toEqual([]);
  });
});

describe('DueIndex queued changes', () => {
  it('go in transactions of at most 100 operations, never splitting a change', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const old = Array.from({ length: 60 }, (_, i) => dueRowKey(k, MS + i));
    for (const rowKey of old) await index.put(k, rowKey);
    requests.length = 0;

    const next = old.map((_, i) => dueRowKey(k, MS + 1000 + i));
    // 60 changes of two operations: 50 fill one transaction exactly, the other 10 go in a second.
    for (const [i, rowKey] of next.entries()) {
      index.queue({ put: { key: k, rowKey }, remove: [old[i] as string] });
    }
    await index.flush();

    expect(requests).toEqual([
      ['transaction', 100],
      ['transaction', 20],
    ]);
    expect(await rowKeys()).toEqual(next);
  });

  it('send what is pending first when the next change would take a transaction past 100', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const old = dueRowKey(k, MS);
    await index.put(k, old);
    requests.length = 0;

    const puts = Array.from({ length: 99 }, (_, i) => dueRowKey(k, MS + 1 + i));
    for (const rowKey of puts) index.queue({ put: { key: k, rowKey }, remove: [] });
    const replacement = dueRowKey(k, MS + 500);
    index.queue({ put: { key: k, rowKey: replacement }, remove: [old] });
    await index.flush();

    expect(requests).toEqual([
      ['transaction', 99],
      ['transaction', 2],
    ]);
    expect(await rowKeys()).toEqual([...puts, replacement]);
  });

  it('start a new transaction rather than touch one entity twice in one', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const first = dueRowKey(k, MS);
    const second = dueRowKey(k, MS + 1);
    await index.put(k, first);
    requests.length = 0;

    index.queue({ put: { key: k, rowKey: second }, remove: [first] });
    index.queue({ put: { key: k, rowKey: first }, remove: [second] });
    await index.flush();

    expect(requests).toEqual([
      ['transaction', 2],
      ['transaction', 2],
    ]);
    expect(await rowKeys()).toEqual([first]);
  });

  it('start a new transaction when a change shares even one entity with what is pending', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const [first, second, third] = [dueRowKey(k, MS), dueRowKey(k, MS + 1), dueRowKey(k, MS + 2)];
    await index.put(k, first);
    requests.length = 0;

    index.queue({ put: { key: k, rowKey: second }, remove: [first] });
    // `third` is new, `second` is pending: the change goes in a transaction of its own.
    index.queue({ put: { key: k, rowKey: third }, remove: [second] });
    await index.flush();

    expect(requests).toEqual([
      ['transaction', 2],
      ['transaction', 2],
    ]);
    expect(await rowKeys()).toEqual([third]);
  });

  it('send a transaction as soon as it is full, while the sweep works on, not at the flush', async () => {
    const wire = wireLog();
    const { index, requests, rowKeys } = await freshIndex({ policies: [wire.policy] });
    const k = key();
    const old = Array.from({ length: 50 }, (_, i) => dueRowKey(k, MS + i));
    for (const rowKey of old) await index.put(k, rowKey);
    requests.length = 0;
    wire.lines.length = 0;

    const next = old.map((_, i) => dueRowKey(k, MS + 1000 + i));
    for (const [i, rowKey] of next.entries()) {
      index.queue({ put: { key: k, rowKey }, remove: [old[i] as string] });
    }
    // By the time the sweep's next storage request is answered, the full transaction has gone out.
    await rowKeys();
    expect(wire.lines).toContain('sent transaction');
    await index.flush();

    expect(requests).toEqual([['transaction', 100]]);
    expect(await rowKeys()).toEqual(next);
  });

  it('ignore a change with nothing in it, and a flush with nothing queued sends nothing', async () => {
    const { index, requests } = await freshIndex();
    index.queue({ remove: [] });
    await index.flush();
    await index.flush();
    expect(requests).toEqual([]);
  });

  it('redo a failed transaction change by change: missing entries ignored, the new entry written', async () => {
    const { index, requests, rowKeys } = await freshIndex();
    const k = key();
    const present = dueRowKey(k, MS);
    const alreadyGone = dueRowKey(k, MS + 1);
    const replacement = dueRowKey(k, MS + 2);
    await index.put(k, present);
    requests.length = 0;

    index.queue({ put: { key: k, rowKey: replacement }, remove: [alreadyGone, present] });
    await index.flush();

    expect(requests).toEqual([
      ['transaction', 0],
      ['upsert', 1],
      ['delete', 0],
      ['delete', 1],
    ]);
    expect(await rowKeys()).toEqual([replacement]);
  });

  it('reject the flush with every change that could not be written, once, and write the rest', async () => {
    const refused = key();
    const { index, requests, rowKeys } = await freshIndex({ refuse: refused.trackingId });
    const k = key();
    const written = dueRowKey(k, MS);
    index.queue({ put: { key: refused, rowKey: dueRowKey(refused, MS) }, remove: [] });
    index.queue({ put: { key: refused, rowKey: dueRowKey(refused, MS + 1) }, remove: [] });
    index.queue({ put: { key: k, rowKey: written }, remove: [] });

    const error = await rejectionOf(index.flush(), AggregateError);
    expect(error.message).toBe('2 due-index update(s) could not be written');
    expect(error.errors.map((e: { statusCode?: number }) => e.statusCode)).toEqual([403, 403]);
    expect(requests).toEqual([
      ['transaction', 0],
      ['upsert', 1],
    ]);
    expect(await rowKeys()).toEqual([written]);
    await expect(index.flush()).resolves.toBeUndefined();
  });
});
