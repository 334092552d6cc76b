import type { TableClient } from '@azure/data-tables';
import type { StorageClients } from '../storage/clients.js';
import { statusCodeOf } from '../storage/rest-errors.js';
import { trackingTableNames } from './tracking-entities.js';

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

/** The three tracking tables of `tablePrefix` (layout: tracking-entities.ts), created on first use. */
export function trackingTables(clients: StorageClients, tablePrefix: string): TrackingTables {
  const names = trackingTableNames(tablePrefix);
  return {
    trackings: clients.tableClient(names.trackings),
    due: clients.tableClient(names.due),
    list: clients.tableClient(names.list),
    ensure: async () => {
      await Promise.all([
        clients.ensureTable(names.trackings),
        clients.ensureTable(names.due),
        clients.ensureTable(names.list),
      ]);
    },
  };
}
