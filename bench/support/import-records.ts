import type { TableEntity, TransactionAction } from '@azure/data-tables';
import pLimit from 'p-limit';
import { dueEntity } from '../../shared/trackings/due-index.js';
import type { TrackingRecord } from '../../shared/trackings/model.js';
import { dueRowKey, toRecordEntity } from '../../shared/trackings/tracking-entities.js';
import { listHintEntities } from '../../shared/trackings/tracking-listing.js';
import { TRANSACTION_SIZE, type TrackingTables } from '../../shared/trackings/tracking-tables.js';

/**
 * Writes many records at once (benchmark and test history) in table transactions of 100 per
 * partition; index entries before records, as the stores do. Not a production path: the app only
 * ever registers trackings one by one.
 */
export async function importRecords(
  tables: TrackingTables,
  records: readonly TrackingRecord[],
  options: { concurrency?: number } = {},
): Promise<void> {
  await tables.ensure();
  const due = new Map<string, TransactionAction[]>();
  const list = new Map<string, TransactionAction[]>();
  const trackings = new Map<string, TransactionAction[]>();
  const add = (groups: Map<string, TransactionAction[]>, entity: TableEntity) => {
    const group = groups.get(entity.partitionKey) ?? [];
    group.push(['upsert', entity, 'Replace']);
    groups.set(entity.partitionKey, group);
  };
  for (const record of records) {
    const key = { customerId: record.customerId, trackingId: record.trackingId };
    const registeredMs = Date.parse(record.registeredAt);
    if (record.state === 'pending') {
      const dueMs = record.nextCheckAt ? Date.parse(record.nextCheckAt) : registeredMs;
      add(due, dueEntity(key, dueRowKey(key, dueMs)));
    }
    for (const hint of listHintEntities(key, registeredMs, record.state)) add(list, hint);
    add(trackings, toRecordEntity({ record }));
  }
  const limit = pLimit(options.concurrency ?? 8);
  const submit = (role: 'trackings' | 'due' | 'list', groups: Map<string, TransactionAction[]>) =>
    Promise.all(
      [...groups.values()].flatMap((actions) =>
        chunk(actions, TRANSACTION_SIZE).map((part) => limit(() => tables[role].submitTransaction(part))),
      ),
    );
  await Promise.all([submit('due', due), submit('list', list)]);
  await submit('trackings', trackings);
}

function chunk<T>(items: T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}
