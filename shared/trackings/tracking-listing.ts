import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import pLimit from 'p-limit';
import type { BatchKey } from '../partner-center/model.js';
import { statusCodeOf } from '../storage/rest-errors.js';
import { ValidationError } from './errors.js';
import {
  DEFAULT_LIST_TOP,
  MAX_LIST_TOP,
  type TrackingList,
  type TrackingRecord,
  type TrackingState,
} from './model.js';
import {
  ALL_PARTITION,
  customerPartition,
  isListRowKey,
  listRowKey,
  type StoredTracking,
} from './tracking-entities.js';
import { deleteEntry, type TableObserver } from './tracking-tables.js';

export interface ListTrackingsOptions {
  state?: TrackingState;
  customerId?: string;
  top?: number;
  continuationToken?: string;
}

const MAX_LIST_PAGES = 5;
const MAX_TOKEN_LENGTH = 1024;

/**
 * The newest-first listing (`…TrackingsByTime`, layout: tracking-entities.ts): hints with a state
 * for server-side filtering, in partition `all` and the customer's own; the records they point at
 * are what is returned.
 */
export class TrackingListing {
  constructor(
    private readonly table: TableClient,
    private readonly ensure: () => Promise<void>,
    private readonly observe: TableObserver,
  ) {}

  /**
   * Newest registration first. Reads at most a few index pages per call, so a page may hold fewer
   * than `top` items and still carry a continuation token. Throws ValidationError for a bad token.
   */
  async list(
    options: ListTrackingsOptions,
    load: (key: BatchKey) => Promise<StoredTracking | undefined>,
  ): Promise<TrackingList> {
    const top = options.top ?? DEFAULT_LIST_TOP;
    if (!Number.isInteger(top) || top < 1 || top > MAX_LIST_TOP) {
      throw new ValidationError([
        { field: 'top', message: `must be a whole number from 1 to ${MAX_LIST_TOP}` },
      ]);
    }
    const cursor = decodeListToken(options.continuationToken);
    await this.ensure();

    const partition = options.customerId ? customerPartition(options.customerId) : ALL_PARTITION;
    const clauses = [odata`PartitionKey eq ${partition}`];
    if (cursor.after) clauses.push(odata`RowKey gt ${cursor.after}`);
    if (options.state) clauses.push(odata`state eq ${options.state}`);
    const filter = clauses.join(' and ');

    const hints: { rowKey: string; key: BatchKey }[] = [];
    let serviceToken = cursor.service;
    for (let page = 0; page < MAX_LIST_PAGES && hints.length < top; page++) {
      const pages = this.table
        .listEntities<{ customerId?: string; trackingId?: string }>({ queryOptions: { filter } })
        .byPage({ maxPageSize: top - hints.length, continuationToken: serviceToken });
      let result: Awaited<ReturnType<typeof pages.next>>;
      try {
        result = await pages.next();
      } catch (error) {
        // A forged service token reaches the service intact; its 400 is the caller's mistake.
        if (serviceToken && statusCodeOf(error) === 400) {
          throw new ValidationError([
            { field: 'continuationToken', message: 'is not a token this service issued' },
          ]);
        }
        throw error;
      }
      if (result.done) break;
      this.observe('query', result.value.length);
      for (const entity of result.value) {
        if (
          typeof entity.customerId === 'string' &&
          typeof entity.trackingId === 'string' &&
          isListRowKey(entity.rowKey ?? '')
        ) {
          hints.push({
            rowKey: entity.rowKey as string,
            key: { customerId: entity.customerId, trackingId: entity.trackingId },
          });
        }
      }
      serviceToken = result.value.continuationToken;
      if (!serviceToken) break;
    }

    let continuationToken: string | undefined;
    if (hints.length >= top && serviceToken !== undefined) {
      continuationToken = encodeListToken({ after: hints[hints.length - 1]?.rowKey });
    } else if (serviceToken !== undefined) {
      continuationToken = encodeListToken({ after: cursor.after, service: serviceToken });
    }

    // The hints only locate records; what is returned is what the records say.
    const limit = pLimit(16);
    const loaded = await Promise.all(hints.map((hint) => limit(() => load(hint.key))));
    const items: TrackingRecord[] = [];
    const repairs: Promise<void>[] = [];
    for (const stored of loaded) {
      if (!stored) continue;
      if (options.state && stored.record.state !== options.state) {
        repairs.push(
          this.putHints(stored.record, Date.parse(stored.record.registeredAt), stored.record.state),
        );
        continue;
      }
      items.push(stored.record);
    }
    await Promise.allSettled(repairs);
    return continuationToken ? { items, continuationToken } : { items };
  }

  async putHints(key: BatchKey, registeredMs: number, state: TrackingState): Promise<void> {
    await Promise.all(
      listHintEntities(key, registeredMs, state).map(async (entity) => {
        await this.table.upsertEntity(entity, 'Replace');
        this.observe('upsert', 1);
      }),
    );
  }

  /** Removes both hints of a registration (missing ones ignored). */
  async removeHints(key: BatchKey, registeredMs: number): Promise<void> {
    const rowKey = listRowKey(key, registeredMs);
    await Promise.all(
      hintPartitions(key).map((partitionKey) => deleteEntry(this.table, this.observe, partitionKey, rowKey)),
    );
  }
}

/** The hints of one registration: in partition `all` and in the customer's own. */
export function listHintEntities(key: BatchKey, registeredMs: number, state: TrackingState): TableEntity[] {
  const rowKey = listRowKey(key, registeredMs);
  const hint = { customerId: key.customerId, trackingId: key.trackingId, state };
  return hintPartitions(key).map((partitionKey) => ({
    partitionKey,
    rowKey,
    ...hint,
  }));
}

function hintPartitions(key: BatchKey): string[] {
  return [ALL_PARTITION, customerPartition(key.customerId)];
}

interface ListCursor {
  /** Exclusive: continue after this listing row key. */
  after?: string;
  /** The table service's own continuation, when a page stopped inside a filtered scan. */
  service?: string;
}

function encodeListToken(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, a: cursor.after, s: cursor.service }), 'utf8').toString(
    'base64url',
  );
}

/** Opaque to callers; anything this service did not issue is a 400, never a 500. */
function decodeListToken(token: string | undefined): ListCursor {
  if (token === undefined || token === '') return {};
  const invalid = () =>
    new ValidationError([{ field: 'continuationToken', message: 'is not a token this service issued' }]);
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { v?: unknown }).v !== 1) throw invalid();
  const { a, s } = parsed as { a?: unknown; s?: unknown };
  if (a !== undefined && (typeof a !== 'string' || !isListRowKey(a))) throw invalid();
  if (s !== undefined && (typeof s !== 'string' || !isServiceToken(s))) throw invalid();
  return { after: a as string | undefined, service: s as string | undefined };
}

/** The SDK's continuation token: base64 JSON with the service's next partition/row keys. */
function isServiceToken(value: string): boolean {
  if (value.length > 512 || !/^[A-Za-z0-9+/=]+$/.test(value)) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
    if (typeof decoded !== 'object' || decoded === null) return false;
    const { nextPartitionKey, nextRowKey } = decoded as { nextPartitionKey?: unknown; nextRowKey?: unknown };
    return (
      typeof nextPartitionKey === 'string' && (nextRowKey === undefined || typeof nextRowKey === 'string')
    );
  } catch {
    return false;
  }
}
