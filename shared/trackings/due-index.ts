import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import pLimit from 'p-limit';
import type { BatchKey } from '../partner-center/model.js';
import { DUE_PARTITION, type DueEntry, dueUpperBound, parseDueRowKey } from './tracking-entities.js';
import { deleteEntry, type TableObserver, TRANSACTION_SIZE } from './tracking-tables.js';

/** One due-index change, applied atomically: the new entry (if any) with the removal of the old ones. */
export interface DueChange {
  put?: { key: BatchKey; rowKey: string };
  remove: string[];
}

/**
 * The due index (`…TrackingsDue`, layout: tracking-entities.ts): hints only, reconciled with the
 * record by the stores (tracking-records.ts) whenever they are read. Entries are written here one
 * at a time, or queued with the sweep's other changes (see {@link DueIndexBatch}) until {@link flush}.
 */
export class DueIndex {
  private readonly changes: DueIndexBatch;

  constructor(
    private readonly table: TableClient,
    private readonly observe: TableObserver,
  ) {
    this.changes = new DueIndexBatch(table, observe);
  }

  /**
   * Entries with a due time at or before `now`, oldest first, one page at a time. Unreadable
   * entries are removed on the way.
   */
  async *entries(now: Date, options: { pageSize?: number } = {}): AsyncGenerator<DueEntry[]> {
    const filter = odata`PartitionKey eq ${DUE_PARTITION} and RowKey lt ${dueUpperBound(now.getTime())}`;
    const pages = this.table
      .listEntities({ queryOptions: { filter } })
      .byPage({ maxPageSize: options.pageSize ?? 100 })
      [Symbol.asyncIterator]();
    try {
      let next = pages.next();
      for (;;) {
        const result = await next;
        if (result.done) return;
        // Read ahead: the next page is on its way while the sweep works through this one.
        next = pages.next();
        next.catch(() => {});
        const page = result.value;
        this.observe('query', page.length);
        const entries: DueEntry[] = [];
        for (const entity of page) {
          const entry = parseDueRowKey(entity.rowKey ?? '');
          if (entry) entries.push(entry);
          else if (entity.rowKey) await this.remove(entity.rowKey);
        }
        yield entries;
      }
    } finally {
      await pages.return?.();
    }
  }

  put(key: BatchKey, rowKey: string): Promise<void> {
    return putEntry(this.table, this.observe, key, rowKey);
  }

  remove(rowKey: string): Promise<void> {
    return deleteEntry(this.table, this.observe, DUE_PARTITION, rowKey);
  }

  /** Re-files an entry at another row key: the new entry first, so the tracking stays covered. */
  async refile(key: BatchKey, fromRowKey: string, toRowKey: string): Promise<void> {
    if (toRowKey === fromRowKey) return;
    await this.put(key, toRowKey);
    await this.remove(fromRowKey);
  }

  /**
   * Removes the entries a final record no longer needs: at once, or `queued` with the sweep's other
   * due-index changes.
   */
  async removeAll(rowKeys: (string | undefined)[], options: { queued?: boolean } = {}): Promise<void> {
    const unique = [...new Set(rowKeys.filter((k): k is string => k !== undefined))];
    if (options.queued) {
      if (unique.length > 0) this.changes.add({ remove: unique });
      return;
    }
    await Promise.all(unique.map((rowKey) => this.remove(rowKey)));
  }

  /** Queues a change; written by {@link flush} at the latest. */
  queue(change: DueChange): void {
    this.changes.add(change);
  }

  flush(): Promise<void> {
    return this.changes.flush();
  }
}

/**
 * The sweep's due-index changes, sent as entity group transactions: the index is one partition, so
 * up to 100 entity operations go in one request instead of one request each. A change is never split
 * between transactions, so the entry that covers a tracking goes only with the one that replaces it.
 * A transaction that fails (an entry someone else already removed) is redone change by change, the
 * new entry before the removals, missing entries ignored.
 */
class DueIndexBatch {
  private pending: DueChange[] = [];
  private pendingRowKeys = new Set<string>();
  private pendingOperations = 0;
  private readonly sending = new Set<Promise<void>>();
  private failures: unknown[] = [];

  constructor(
    private readonly table: TableClient,
    private readonly observe: TableObserver,
  ) {}

  add(change: DueChange): void {
    const rowKeys = [...(change.put ? [change.put.rowKey] : []), ...change.remove];
    if (rowKeys.length === 0) return;
    // A transaction may touch an entity once, and holds at most TRANSACTION_SIZE operations.
    if (
      this.pendingOperations + rowKeys.length > TRANSACTION_SIZE ||
      rowKeys.some((rowKey) => this.pendingRowKeys.has(rowKey))
    ) {
      this.send();
    }
    this.pending.push(change);
    for (const rowKey of rowKeys) this.pendingRowKeys.add(rowKey);
    this.pendingOperations += rowKeys.length;
    if (this.pendingOperations >= TRANSACTION_SIZE) this.send();
  }

  async flush(): Promise<void> {
    this.send();
    while (this.sending.size > 0) await Promise.all(this.sending);
    const failures = this.failures;
    this.failures = [];
    if (failures.length > 0) {
      throw new AggregateError(failures, `${failures.length} due-index update(s) could not be written`);
    }
  }

  private send(): void {
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    this.pendingRowKeys = new Set();
    this.pendingOperations = 0;
    const sent = this.write(changes).finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  private async write(changes: DueChange[]): Promise<void> {
    const actions: TransactionAction[] = [];
    for (const change of changes) {
      if (change.put) actions.push(['upsert', dueEntity(change.put.key, change.put.rowKey), 'Replace']);
      for (const rowKey of change.remove) actions.push(['delete', { partitionKey: DUE_PARTITION, rowKey }]);
    }
    try {
      await this.table.submitTransaction(actions);
      this.observe('transaction', actions.length);
      return;
    } catch {
      this.observe('transaction', 0);
    }
    const limit = pLimit(8);
    await Promise.all(changes.map((change) => limit(() => this.writeOne(change))));
  }

  private async writeOne(change: DueChange): Promise<void> {
    try {
      if (change.put) await putEntry(this.table, this.observe, change.put.key, change.put.rowKey);
      for (const rowKey of change.remove) await deleteEntry(this.table, this.observe, DUE_PARTITION, rowKey);
    } catch (error) {
      this.failures.push(error);
    }
  }
}

export function dueEntity(key: BatchKey, rowKey: string): TableEntity {
  return { partitionKey: DUE_PARTITION, rowKey, customerId: key.customerId, trackingId: key.trackingId };
}

async function putEntry(
  table: TableClient,
  observe: TableObserver,
  key: BatchKey,
  rowKey: string,
): Promise<void> {
  await table.upsertEntity(dueEntity(key, rowKey), 'Replace');
  observe('upsert', 1);
}
