import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestError } from '@azure/core-rest-pipeline';
import { AnonymousCredential, ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import type { BatchUploadDetails } from '../../../shared/partner-center/model.js';
import { ValidationError } from '../../../shared/trackings/errors.js';
import { trackingRecordSchema } from '../../../shared/trackings/model.js';
import { CorruptResultError, ResultStore } from '../../../shared/trackings/result-store.js';
import { dueRowKey } from '../../../shared/trackings/tracking-entities.js';
import { rejectionOf } from '../../support/rejection.js';
import {
  allEntities,
  guid,
  key,
  OutcomeLog,
  StorageCounter,
  type TestStorage,
  testStorage,
} from './storage-fixture.js';

const T0 = new Date('2025-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const finished: BatchUploadDetails = {
  batchTrackingId: 'x',
  status: 'finished',
  startedTime: '2025-03-01T08:00:00',
  completedTime: '2025-03-01T08:05:00',
  devicesStatus: [
    { serialNumber: '1', status: 'finished' },
    {
      serialNumber: '2',
      status: 'finished_with_errors',
      errorCode: '808',
      errorDescription: 'ZtdDeviceAssignedToOtherTenant',
    },
  ],
};

describe('TrackingStore register', () => {
  it('creates a pending tracking that is due at once, with index entries', async () => {
    const storage = testStorage();
    const k = key();
    const { record, created } = await storage.store.register(k, { label: 'wave 1' }, T0);

    expect(created).toBe(true);
    expect(record).toEqual({
      ...k,
      label: 'wave 1',
      state: 'pending',
      registeredAt: T0.toISOString(),
      nextCheckAt: T0.toISOString(),
      checks: 0,
    });
    expect(trackingRecordSchema.parse(record)).toEqual(record);
    expect(await storage.store.get(k)).toEqual(record);
    const due = await allEntities(storage, 'due');
    expect(due.map((e) => e.rowKey)).toEqual([
      `${String(T0.getTime()).padStart(15, '0')}_${k.customerId}_${k.trackingId}`,
    ]);
    expect(await allEntities(storage, 'list')).toHaveLength(2);
  });

  it('is idempotent: a second register returns the first record unchanged', async () => {
    const storage = testStorage();
    const k = key();
    const first = await storage.store.register(k, { label: 'first' }, T0);
    const second = await storage.store.register(k, { label: 'second' }, at(60_000));

    expect(second).toEqual({ record: first.record, created: false });
    expect(await allEntities(storage, 'due')).toHaveLength(1);
  });

  it('concurrent registers of one id: one creates, the others get its record, one due entry remains', async () => {
    const storage = testStorage();
    const k = key();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => storage.store.register(k, {}, at(i))),
    );

    expect(results.filter((r) => r.created)).toHaveLength(1);
    const winner = results.find((r) => r.created)?.record;
    for (const result of results) expect(result.record).toEqual(winner);
    expect(await allEntities(storage, 'trackings')).toHaveLength(1);
    expect(await allEntities(storage, 'due')).toHaveLength(1);
    expect(await allEntities(storage, 'list')).toHaveLength(2);
  });

  it('concurrent registers of one id at the same instant: the losers leave the entries they share with the winner', async () => {
    const storage = testStorage();
    const k = key();
    const results = await Promise.all([storage.store.register(k, {}, T0), storage.store.register(k, {}, T0)]);

    expect(results.map((r) => r.created).sort()).toEqual([false, true]);
    const record = results[0]?.record;
    expect(results[1]?.record).toEqual(record);
    // Same instant, same row keys: a loser removing "its" entries would remove the winner's.
    expect((await allEntities(storage, 'due')).map((e) => e.rowKey)).toEqual([dueRowKey(k, T0.getTime())]);
    expect(await storage.store.list()).toEqual({ items: [record] });
    expect(await storage.store.list({ customerId: k.customerId })).toEqual({ items: [record] });
  });
});

describe('TrackingStore list', () => {
  async function seeded() {
    const storage = testStorage();
    const customerA = guid();
    const customerB = guid();
    const keys = Array.from({ length: 7 }, (_, i) => ({
      customerId: i % 2 ? customerB : customerA,
      trackingId: guid(),
    }));
    for (const [i, k] of keys.entries()) await storage.store.register(k, {}, at(i * 1000));
    return { storage, keys, customerA, customerB };
  }

  it('pages newest first with an opaque continuation token', async () => {
    const { storage, keys } = await seeded();
    const newestFirst = [...keys].reverse().map((k) => k.trackingId);

    const page1 = await storage.store.list({ top: 3 });
    const page2 = await storage.store.list({ top: 3, continuationToken: page1.continuationToken });
    const page3 = await storage.store.list({ top: 3, continuationToken: page2.continuationToken });

    expect(page1.items.map((r) => r.trackingId)).toEqual(newestFirst.slice(0, 3));
    expect(page2.items.map((r) => r.trackingId)).toEqual(newestFirst.slice(3, 6));
    expect(page3.items.map((r) => r.trackingId)).toEqual(newestFirst.slice(6));
    expect(page1.continuationToken).toEqual(expect.any(String));
    expect(page3.continuationToken).toBeUndefined();
    expect((await storage.store.list()).items).toHaveLength(7);
  });

  it('filters by customer and by state', async () => {
    const { storage, keys, customerB } = await seeded();
    await storage.store.cancel(keys[1] as (typeof keys)[number], at(10_000));
    await storage.store.recordTerminal(keys[3] as (typeof keys)[number], finished, at(10_000));

    const ofB = await storage.store.list({ customerId: customerB });
    expect(ofB.items.map((r) => r.trackingId)).toEqual([keys[5], keys[3], keys[1]].map((k) => k?.trackingId));
    expect((await storage.store.list({ state: 'cancelled' })).items.map((r) => r.trackingId)).toEqual([
      keys[1]?.trackingId,
    ]);
    expect(
      (await storage.store.list({ state: 'finished', customerId: customerB })).items.map((r) => r.trackingId),
    ).toEqual([keys[3]?.trackingId]);
    const pending = await storage.store.list({ state: 'pending', top: 2 });
    expect(pending.items.map((r) => r.trackingId)).toEqual([keys[6], keys[5]].map((k) => k?.trackingId));
    const rest = await storage.store.list({
      state: 'pending',
      top: 10,
      continuationToken: pending.continuationToken,
    });
    expect(rest.items.map((r) => r.trackingId)).toEqual(
      [keys[4], keys[2], keys[0]].map((k) => k?.trackingId),
    );
    expect(rest.continuationToken).toBeUndefined();
  });

  it('refuses a malformed continuation token or top as a validation error', async () => {
    const storage = testStorage();
    for (const continuationToken of [
      'garbage!',
      'eyJ2IjoxfQ',
      Buffer.from('{"v":1,"a":"x"}').toString('base64url'),
      'a'.repeat(5000),
    ]) {
      const error = await storage.store.list({ continuationToken }).catch((e: unknown) => e);
      if (continuationToken === 'eyJ2IjoxfQ') {
        // {"v":1}: well formed, starts from the beginning
        expect(error).toEqual({ items: [] });
        continue;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).problems[0]?.field).toBe('continuationToken');
    }
    await expect(storage.store.list({ top: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(storage.store.list({ top: 201 })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('TrackingStore cancel and recordTerminal', () => {
  it('cancel keeps the record as cancelled and takes it out of the due index', async () => {
    const storage = testStorage();
    const k = key();
    await storage.store.register(k, {}, T0);
    const cancelled = await storage.store.cancel(k, at(1000));

    expect(cancelled).toMatchObject({ ...k, state: 'cancelled', checks: 0 });
    expect(cancelled?.nextCheckAt).toBeUndefined();
    expect(await storage.store.get(k)).toEqual(cancelled);
    expect(await allEntities(storage, 'due')).toHaveLength(0);
    expect(await storage.store.cancel(key(), at(1000))).toBeUndefined();
  });

  it('cancel reads the record once and writes it once, and answers what it wrote', async () => {
    const counter = new StorageCounter();
    const storage = testStorage({ observer: counter.observer });
    const k = key();
    await storage.store.register(k, {}, T0);
    counter.reset();

    const cancelled = await storage.store.cancel(k, at(1000));
    expect(counter.events.filter((e) => e.table === 'trackings')).toEqual([
      { table: 'trackings', operation: 'read', entities: 1 },
      { table: 'trackings', operation: 'replace', entities: 1 },
    ]);
    expect(await storage.store.get(k)).toEqual(cancelled);
  });

  it('recordTerminal stores the result, then the record with its summary; terminal results are immutable', async () => {
    const storage = testStorage();
    const k = key();
    await storage.store.register(k, {}, T0);

    const record = await storage.store.recordTerminal(k, finished, at(5000));
    expect(record).toMatchObject({
      state: 'finished',
      upstreamStatus: 'finished',
      startedTime: '2025-03-01T08:00:00.000Z',
      completedTime: '2025-03-01T08:05:00.000Z',
      summary: {
        devices: 2,
        byStatus: { finished: 1, finished_with_errors: 1 },
        errors: [
          {
            code: '808',
            name: 'ZtdDeviceAssignedToOtherTenant',
            count: 1,
            remedy: expect.stringContaining('deregister'),
          },
        ],
      },
    });
    expect(record?.nextCheckAt).toBeUndefined();
    expect(await storage.results.get(k)).toEqual(finished);
    expect(await allEntities(storage, 'due')).toHaveLength(0);

    const other = { ...finished, status: 'finished_with_errors', devicesStatus: [] };
    expect(await storage.store.recordTerminal(k, other, at(9000))).toEqual(record);
    expect(await storage.results.get(k)).toEqual(finished);
    expect(await storage.store.cancel(k, at(9000))).toEqual(record);
  });

  it('recordTerminal ignores trackings that are not registered', async () => {
    const storage = testStorage();
    const k = key();
    expect(await storage.store.recordTerminal(k, finished, T0)).toBeUndefined();
    expect(await storage.results.get(k)).toBeUndefined();
  });
});

describe('the outcome observer', () => {
  it('hears each registration and each transition to a final state once, and nothing for a repeat', async () => {
    const outcomes = new OutcomeLog();
    const storage = testStorage({ outcomes: outcomes.observer });
    const [a, b] = [key(), key()];
    await Promise.all(Array.from({ length: 4 }, (_, i) => storage.store.register(a, {}, at(i))));
    await storage.store.register(b, {}, T0);
    await storage.store.recordTerminal(a, finished, at(5000));
    await storage.store.recordTerminal(a, { ...finished, status: 'finished_with_errors' }, at(6000));
    await storage.store.cancel(a, at(7000));
    await storage.store.cancel(b, at(7000));
    await storage.store.cancel(b, at(8000));

    expect(outcomes.lines).toEqual([
      `registered:pending:${a.trackingId}`,
      `registered:pending:${b.trackingId}`,
      `lookup:finished:${a.trackingId}`,
      `caller:cancelled:${b.trackingId}`,
    ]);
  });
});

describe('ResultStore', () => {
  it('keeps the first result under a deterministic name and reads it back', async () => {
    const storage = testStorage();
    const k = key();
    expect(ResultStore.blobName(k)).toBe(`${k.customerId}/${k.trackingId}.json`);
    expect(await storage.results.get(k)).toBeUndefined();
    expect(await storage.results.put(k, finished)).toBe(ResultStore.blobName(k));
    await storage.results.put(k, { ...finished, status: 'finished_with_errors' });
    expect(await storage.results.get(k)).toEqual(finished);
  });

  it('reports an unreadable result instead of serving it', async () => {
    const storage = testStorage();
    const k = key();
    await storage.clients.ensureContainer(storage.names.resultContainer);
    await storage.clients
      .containerClient(storage.names.resultContainer)
      .getBlockBlobClient(ResultStore.blobName(k))
      .upload('{"truncat', 9);
    const error = await rejectionOf(storage.results.get(k), CorruptResultError);
    expect(error.message).toBe(
      `The stored result ${ResultStore.blobName(k)} is not a final BatchUploadDetails document`,
    );
    expect(error.blobName).toBe(ResultStore.blobName(k));

    await blob(storage, k).upload('{"status":7}', 12);
    await rejectionOf(storage.results.get(k), CorruptResultError);
    // A well-formed answer that is not final is no stored result either.
    await blob(storage, k).upload('{"status":"processing"}', 23);
    await rejectionOf(storage.results.get(k), CorruptResultError);
  });

  it('stores JSON as application/json, and deletes it (a missing one too)', async () => {
    const storage = testStorage();
    const k = key();
    await storage.results.put(k, finished);
    expect((await blob(storage, k).getProperties()).contentType).toBe('application/json');
    await storage.results.delete(k);
    await storage.results.delete(k);
    expect(await storage.results.get(k)).toBeUndefined();
  });

  it('throws storage faults other than "already there" and "not found"', async () => {
    // A blob endpoint that answers every request with `status`, as the service words its errors.
    let status = 500;
    const server = createServer((request, response) => {
      request.resume();
      response.writeHead(status, { 'x-ms-error-code': 'Injected', 'content-type': 'application/xml' });
      response.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>Injected</Code></Error>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const container = new ContainerClient(
        `http://127.0.0.1:${port}/devstoreaccount1/results`,
        new AnonymousCredential(),
        {
          retryOptions: { maxTries: 1 },
        },
      );
      const results = new ResultStore({ container, ensure: async () => {} });
      const k = key();

      for (status of [409, 412]) expect(await results.put(k, finished)).toBe(ResultStore.blobName(k));
      status = 500;
      expect((await rejectionOf(results.put(k, finished), RestError)).statusCode).toBe(500);
      expect((await rejectionOf(results.get(k), RestError)).statusCode).toBe(500);
      status = 404;
      expect(await results.get(k)).toBeUndefined();
    } finally {
      server.close();
    }
  });
});

function blob(storage: TestStorage, k: { customerId: string; trackingId: string }) {
  return storage.clients
    .containerClient(storage.names.resultContainer)
    .getBlockBlobClient(ResultStore.blobName(k));
}
