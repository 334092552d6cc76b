import type { TableClient } from '@azure/data-tables';
import { statusCodeOf } from '../storage/rest-errors.js';

export interface TrackingTables {
  trackings: TableClient;
  due: TableClient;
  list: TableClient;
  /** Creates the three tables on first use (shared, once per process). */
  ensure(): Promise<void>;
}

export type TableRole = 'trackings' | 'due' | 'list';
export type StorageOperation = 'query' | 'read' | 'insert' | 'replace' | 'upsert' | 'delete' | 'transaction';

/** One request the store made: which table, what kind, how many entities it sent or got back. */
export interface StorageEvent {
  table: TableRole;
  operation: StorageOperation;
  entities: number;
}

export type StorageObserver = (event: StorageEvent) => void;

/** Reports the requests made to one table (its role is bound in). */
export type TableObserver = (operation: StorageOperation, entities: number) => void;

/** Entity operations per entity group transaction (the service's limit). */
export const TRANSACTION_SIZE = 100;

/** Deletes an index entry; one that is already gone counts as deleted. */
export async function deleteEntry(
  table: TableClient,
  observe: TableObserver,
  partitionKey: string,
  rowKey: string,
): Promise<void> {
  try {
    await table.deleteEntity(partitionKey, rowKey);
    observe('delete', 1);
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
    observe('delete', 0);
  }
}
