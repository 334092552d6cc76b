import { randomBytes } from 'node:crypto';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { inject } from 'vitest';
import type { StorageConnection } from '../../../shared/config/settings.js';
import { StorageClients } from '../../../shared/storage/clients.js';
import type { TrackingOutcomeObserver } from '../../../shared/trackings/outcomes.js';
import { ResultStore } from '../../../shared/trackings/result-store.js';
import { SweepScheduler } from '../../../shared/trackings/sweep-scheduler.js';
import { trackingTableNames } from '../../../shared/trackings/tracking-entities.js';
import { type CompletionNotifier, TrackingRecords } from '../../../shared/trackings/tracking-records.js';
import { TrackingRepository } from '../../../shared/trackings/tracking-repository.js';
import type { StorageEvent } from '../../../shared/trackings/tracking-tables.js';

export function azuriteConnection(): StorageConnection {
  return {
    kind: 'connectionString',
    connectionString: inject('azuriteConnectionString'),
    settingName: 'TRACKING_STORAGE',
  };
}

/** A table prefix / container name nobody else uses, so test files (and tests) run side by side. */
export function uniqueNames(): { tablePrefix: string; resultContainer: string } {
  const id = randomBytes(6).toString('hex');
  return { tablePrefix: `t${id}`, resultContainer: `results-${id}` };
}

/** Counts what the storage layer asked for and got back, per table and operation. */
export class StorageCounter {
  readonly events: StorageEvent[] = [];
  readonly observer = (event: StorageEvent) => {
    this.events.push(event);
  };
  reset(): void {
    this.events.length = 0;
  }
  /** Entities returned by reads and queries of one table. */
  entitiesRead(table: StorageEvent['table']): number {
    return this.events
      .filter((e) => e.table === table && (e.operation === 'query' || e.operation === 'read'))
      .reduce((sum, e) => sum + e.entities, 0);
  }
  count(table: StorageEvent['table'], operation: StorageEvent['operation']): number {
    return this.events.filter((e) => e.table === table && e.operation === operation).length;
  }
}

/** What went over the wire to Table storage: requests per table and entities in the answers. */
export class TableWireCounter {
  readonly requests: { method: string; table: string; query: boolean; entities: number }[] = [];
  readonly policy: PipelinePolicy = {
    name: 'tableWireCounter',
    sendRequest: async (request, next) => {
      const response = await next(request);
      const url = new URL(request.url);
      const table = /^\/[^/]+\/([A-Za-z0-9]+)/.exec(url.pathname)?.[1] ?? '';
      const query = request.method === 'GET' && /\(\)$/.test(url.pathname);
      let entities = 0;
      if (request.method === 'GET' && response.status === 200 && response.bodyAsText) {
        const body = JSON.parse(response.bodyAsText) as { value?: unknown[] };
        entities = Array.isArray(body.value) ? body.value.length : 1;
      }
      this.requests.push({ method: request.method, table, query, entities });
      return response;
    },
  };
  reset(): void {
    this.requests.length = 0;
  }
}

export interface TestStorage {
  clients: StorageClients;
  results: ResultStore;
  records: TrackingRecords;
  /** The caller side: register, get, list, cancel, recordTerminal. */
  store: TrackingRepository;
  scheduler: SweepScheduler;
  names: { tablePrefix: string; resultContainer: string };
  tables: ReturnType<typeof trackingTableNames>;
}

/** Real clients on the run's Azurite, with fresh tables and container. */
export function testStorage(
  options: {
    names?: { tablePrefix: string; resultContainer: string };
    observer?: (event: StorageEvent) => void;
    outcomes?: TrackingOutcomeObserver;
    tablePolicies?: PipelinePolicy[];
    results?: (clients: StorageClients, container: string) => ResultStore;
    notifier?: CompletionNotifier;
  } = {},
): TestStorage {
  const names = options.names ?? uniqueNames();
  const clients = new StorageClients(azuriteConnection(), { tablePolicies: options.tablePolicies });
  const results =
    options.results?.(clients, names.resultContainer) ??
    ResultStore.fromClients(clients, names.resultContainer);
  const records = TrackingRecords.fromClients(clients, names, {
    results,
    storageObserver: options.observer,
    outcomes: options.outcomes,
    notifier: options.notifier,
  });
  return {
    clients,
    results,
    records,
    store: new TrackingRepository(records),
    scheduler: new SweepScheduler(records),
    names,
    tables: trackingTableNames(names.tablePrefix),
  };
}

/** Every entity of a table (test inspection only). */
export async function allEntities(storage: TestStorage, table: 'trackings' | 'due' | 'list') {
  const client = storage.clients.tableClient(storage.tables[table]);
  const entities: Record<string, unknown>[] = [];
  for await (const entity of client.listEntities()) entities.push(entity);
  return entities;
}

export function guid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

export function key(): { customerId: string; trackingId: string } {
  return { customerId: guid(), trackingId: guid() };
}

/** Records what the outcome observer was told, as `by:state:trackingId` lines. */
export class OutcomeLog {
  readonly lines: string[] = [];
  readonly observer: TrackingOutcomeObserver = {
    trackingRegistered: (record) => this.lines.push(`registered:pending:${record.trackingId}`),
    trackingEnded: ({ record, by }) => this.lines.push(`${by}:${record.state}:${record.trackingId}`),
  };
}
