import type { StorageSettings } from '../config/settings.js';
import { markQueued } from '../notifications/notification-state.js';
import { withoutUndefined } from '../objects/without-undefined.js';
import { type BatchKey, type BatchUploadDetails, isTerminalBatchStatus } from '../partner-center/model.js';
import type { StorageClients } from '../storage/clients.js';
import { statusCodeOf } from '../storage/rest-errors.js';
import { DueIndex } from './due-index.js';
import type { NotificationStatus, TrackingError, TrackingRecord, TrackingState } from './model.js';
import { combineOutcomeObservers, type EndedBy, type TrackingOutcomeObserver } from './outcomes.js';
import { ResultStore } from './result-store.js';
import { summarizeBatch } from './summary.js';
import {
  dueRowKey,
  fromRecordEntity,
  normalizeUpstreamTime,
  type StoredTracking,
  toRecordEntity,
} from './tracking-entities.js';
import { TrackingListing } from './tracking-listing.js';
import {
  type StorageObserver,
  type StorageOperation,
  type TableObserver,
  type TableRole,
  type TrackingTables,
  trackingTables,
} from './tracking-tables.js';

export interface TrackingRecordsOptions {
  tables: TrackingTables;
  results: ResultStore;
  /** Sees every storage request: for tests and metrics ("the sweep reads only due trackings"). */
  storageObserver?: StorageObserver;
  /** Told of every registration and every transition to a final state (see outcomes.ts). */
  outcomes?: TrackingOutcomeObserver;
  /** Creates and queues completion events (webhooks); none when absent. */
  notifier?: CompletionNotifier;
}

/**
 * The completion-event hook of the one terminal transition ({@link TrackingRecords.end}): unlike
 * the outcome observer (told after the write), it takes part in it. The event is recorded in the
 * same If-Match write as the final state; its deliveries are queued after that write, then
 * `queuedAt` is set; the due entries that keep the tracking visible to the sweep go only after
 * that, so a crash in between leaves a sweep to queue the same event (never a second event).
 */
export interface CompletionNotifier {
  /** The record about to become final, with its completion event when it has receivers. */
  attach(record: TrackingRecord, now: Date): TrackingRecord;
  /** Queues the deliveries of the record's event: when it did, or undefined (never a throw) when that failed. */
  enqueue(record: TrackingRecord): Promise<Date | undefined>;
}

/** A tracking this sweep owns until `record.nextCheckAt` (the lease end). */
export interface Claim {
  key: BatchKey;
  record: TrackingRecord;
  etag: string;
  /**
   * The due entries that stand for the tracking while it is claimed (at or before the claim time,
   * so a crash at any point leaves it due); removed once the check is recorded.
   */
  dueRowKeys: string[];
  /**
   * An earlier claim never recorded its check: that run may have died after storing the full
   * result, so the result store is worth a look before asking Partner Center.
   */
  resumed: boolean;
  firstNotFoundAt?: string;
  resultBlob?: string;
}

/** What a check changes on a claimed record, besides its state and next check. */
export interface CheckChanges {
  /** Partner Center was asked (counts in `checks`, sets `lastCheckedAt`). */
  checked: boolean;
  upstreamStatus?: string;
  startedTime?: string;
  /** null clears it. */
  lastError?: TrackingError | null;
  /** null clears it. */
  firstNotFoundAt?: string | null;
}

/**
 * Record column set by a claim and dropped by every later write of the record: present at claim
 * time only when the previous claim never recorded its check (a crashed or failed run).
 */
const CLAIMED_AT_COLUMN = 'claimedAt';

/** A stored tracking as loaded, with what only the stores read. */
export interface LoadedTracking extends StoredTracking {
  claimedAt?: string;
}

const MAX_CONFLICT_RETRIES = 5;

/**
 * The tracking records and their two indexes (layout: tracking-entities.ts; the indexes:
 * due-index.ts, tracking-listing.ts), shared by the two stores built on them: the caller-side
 * TrackingRepository and the sweep-side SweepScheduler. It holds what both need: reading and
 * If-Match writing a record, the one terminal write, and the one place a transition to a final
 * state is told to the outcome observer.
 *
 * The record is the source of truth; index entries are hints, reconciled with the record whenever
 * they are read. Invariant kept by every write order, so that a crash at any point loses no
 * tracking: every pending record has at least one due entry at or before its `nextCheckAt`.
 * Entries are written before the record that needs them and deleted only after it moved on.
 */
export class TrackingRecords {
  readonly tables: TrackingTables;
  readonly results: ResultStore;
  readonly due: DueIndex;
  readonly listing: TrackingListing;
  private readonly storageObserver?: StorageObserver;
  private readonly outcomes: TrackingOutcomeObserver;
  private readonly notifier?: CompletionNotifier;

  constructor(options: TrackingRecordsOptions) {
    this.notifier = options.notifier;
    this.tables = options.tables;
    this.results = options.results;
    this.storageObserver = options.storageObserver;
    this.outcomes = combineOutcomeObservers(options.outcomes);
    this.due = new DueIndex(this.tables.due, this.observerOf('due'));
    this.listing = new TrackingListing(this.tables.list, () => this.tables.ensure(), this.observerOf('list'));
  }

  static fromClients(
    clients: StorageClients,
    settings: Pick<StorageSettings, 'tablePrefix' | 'resultContainer'>,
    options: Omit<TrackingRecordsOptions, 'tables' | 'results'> & { results?: ResultStore } = {},
  ): TrackingRecords {
    return new TrackingRecords({
      ...options,
      tables: trackingTables(clients, settings.tablePrefix),
      results: options.results ?? ResultStore.fromClients(clients, settings.resultContainer),
    });
  }

  /** Creates a new record; false when it exists already (a concurrent register won). */
  async create(record: TrackingRecord): Promise<boolean> {
    try {
      await this.tables.trackings.createEntity(toRecordEntity({ record }));
    } catch (error) {
      if (statusCodeOf(error) === 409) return false;
      throw error;
    }
    this.observe('trackings', 'insert', 1);
    this.outcomes.trackingRegistered?.(record);
    return true;
  }

  async load(key: BatchKey): Promise<LoadedTracking | undefined> {
    await this.tables.ensure();
    let entity: unknown;
    try {
      entity = await this.tables.trackings.getEntity(key.customerId, key.trackingId);
    } catch (error) {
      if (statusCodeOf(error) === 404) {
        this.observe('trackings', 'read', 0);
        return undefined;
      }
      throw error;
    }
    this.observe('trackings', 'read', 1);
    const stored: LoadedTracking = fromRecordEntity(key, entity);
    const claimedAt = (entity as Record<string, unknown>)[CLAIMED_AT_COLUMN];
    if (typeof claimedAt === 'string') stored.claimedAt = claimedAt;
    return stored;
  }

  /**
   * If-Match replace; the new ETag, or undefined when someone else changed the record first.
   * `claimedAt` is a claim's marker: every other write drops it.
   */
  async replace(stored: StoredTracking, claimedAt?: string): Promise<string | undefined> {
    const entity = toRecordEntity(stored);
    if (claimedAt !== undefined) entity[CLAIMED_AT_COLUMN] = claimedAt;
    try {
      const response = await this.tables.trackings.updateEntity(entity, 'Replace', {
        etag: stored.etag,
      });
      this.observe('trackings', 'replace', 1);
      if (!response.etag) throw new Error('Table storage answered an update without an ETag');
      return response.etag;
    } catch (error) {
      if (statusCodeOf(error) === 412 || statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Replaces a pending record with a final one (If-Match on `stored.etag`), then mends the listing
   * hint and drops the due entries the record no longer needs (at once, or `queued` with the
   * sweep's other due-index changes). Undefined when the claim or read was stale; else the record
   * as written, with its completion event (see {@link CompletionNotifier}). The transition is told
   * to the outcome observer right after the record's write: it happened then.
   */
  async end(
    stored: StoredTracking,
    ended: { at: Date; by: EndedBy },
    dueRowKeys: (string | undefined)[],
    options: { queued?: boolean } = {},
  ): Promise<TrackingRecord | undefined> {
    const record = this.notifier ? this.notifier.attach(stored.record, ended.at) : stored.record;
    if (!(await this.replace({ ...stored, record }))) return undefined;
    this.outcomes.trackingEnded?.({ record, at: ended.at, by: ended.by });
    await this.afterFinal(record, dueRowKeys, options);
    return record;
  }

  /**
   * Read-modify-write of a record's `notification` (If-Match, retried on conflicts): subscriptions
   * and delivery outcomes. `change` returns undefined to leave the record as it is. Resolves with
   * the record as it stands afterwards (undefined when there is none).
   */
  async updateNotification(
    key: BatchKey,
    change: (record: TrackingRecord) => NotificationStatus | undefined,
  ): Promise<TrackingRecord | undefined> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES * 2; attempt++) {
      const current = await this.load(key);
      if (!current) return undefined;
      const notification = change(current.record);
      if (notification === undefined) return current.record;
      const record: TrackingRecord = { ...current.record, notification };
      if (await this.replace({ ...current, record }, current.claimedAt)) return record;
    }
    throw new Error(
      `Tracking ${key.customerId}/${key.trackingId} kept changing while its notification was updated`,
    );
  }

  /**
   * Queues the deliveries of a final record's event unless that was done, then marks it queued.
   * True when nothing is left to queue. A failure to mark only means a later sweep queues again
   * (the same event id: a receiver may see a repeat, never a second event).
   */
  async announce(record: TrackingRecord): Promise<boolean> {
    const notification = record.notification;
    if (!this.notifier || notification?.eventId === undefined || notification.queuedAt !== undefined) {
      return true;
    }
    const queuedAt = await this.notifier.enqueue(record);
    if (!queuedAt) return false;
    const eventId = notification.eventId;
    try {
      await this.updateNotification(record, (current) =>
        current.notification?.eventId === eventId && current.notification.queuedAt === undefined
          ? markQueued(current.notification, queuedAt)
          : undefined,
      );
      return true;
    } catch {
      return false;
    }
  }

  /**
   * After a record went final: listing hint, then the due entries it no longer needs. Also mends a
   * record found final already (a crash may have left its hint behind).
   */
  async afterFinal(
    record: TrackingRecord,
    dueRowKeys: (string | undefined)[],
    options: { queued?: boolean } = {},
  ): Promise<void> {
    const key = { customerId: record.customerId, trackingId: record.trackingId };
    await this.listing.putHints(key, Date.parse(record.registeredAt), record.state);
    // Not queued yet: the due entries keep the tracking visible, so a later sweep queues it.
    if (!(await this.announce(record))) return;
    await this.due.removeAll(dueRowKeys, options);
  }

  /**
   * The one terminal write, for a sweep's claim (`claim` given: its record version and the due
   * entries it still holds) and for a live lookup's write-through. Order: full result blob, then
   * the record that points at it, then the listing hint, then out of the due index. When the
   * record went final meanwhile (cancelled, or completed by someone else), that stands: it is
   * returned unchanged, since terminal results are immutable. Undefined when there is no record.
   */
  async writeTerminal(
    key: BatchKey,
    details: BatchUploadDetails,
    now: Date,
    options: { by: EndedBy; checked: boolean; claim?: Claim },
  ): Promise<TrackingRecord | undefined> {
    if (!isTerminalBatchStatus(details.status)) {
      throw new Error(`Batch status ${JSON.stringify(details.status)} is not terminal`);
    }
    const { claim } = options;
    const start: StoredTracking | undefined = claim && {
      record: claim.record,
      etag: claim.etag,
      resultBlob: claim.resultBlob,
      firstNotFoundAt: claim.firstNotFoundAt,
    };
    let current = start ?? (await this.load(key));
    let resultBlob: string | undefined;
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      if (!current) return undefined;
      if (!acceptsTerminal(current.record.state)) {
        // Final already: what stands needs no due entries (its listing hint is mended first).
        if (claim) await this.afterFinal(current.record, claim.dueRowKeys, { queued: true });
        return current.record;
      }
      // The full result first: a record never points at a result that is not there.
      resultBlob ??= await this.results.put(key, details);
      const record: TrackingRecord = withoutUndefined({
        ...current.record,
        state: details.status,
        upstreamStatus: details.status,
        nextCheckAt: undefined,
        lastCheckedAt: now.toISOString(),
        checks: current.record.checks + (options.checked ? 1 : 0),
        startedTime: normalizeUpstreamTime(details.startedTime) ?? current.record.startedTime,
        completedTime: normalizeUpstreamTime(details.completedTime),
        lastError: undefined,
        summary: summarizeBatch(details),
      });
      // A claimed record's own next check is its lease end, where no entry was written: only a
      // record read back after a conflict may have an entry there.
      const recordEntry = current === start ? undefined : dueKeyOf(current.record);
      const written = await this.end(
        { record, etag: current.etag, resultBlob },
        { at: now, by: options.by },
        [recordEntry, ...(claim?.dueRowKeys ?? [])],
        { queued: claim !== undefined },
      );
      if (written) return written;
      current = await this.load(key);
    }
    throw new Error(`Tracking ${key.customerId}/${key.trackingId} kept changing while being completed`);
  }

  /** The claimed record with a check's changes applied (not written). */
  checked(claim: Claim, changes: CheckChanges, now: Date, next: Partial<TrackingRecord>): StoredTracking {
    const record: TrackingRecord = withoutUndefined({
      ...claim.record,
      ...next,
      checks: claim.record.checks + (changes.checked ? 1 : 0),
      lastCheckedAt: changes.checked ? now.toISOString() : claim.record.lastCheckedAt,
      upstreamStatus: changes.upstreamStatus ?? claim.record.upstreamStatus,
      startedTime: normalizeUpstreamTime(changes.startedTime) ?? claim.record.startedTime,
      lastError: changes.lastError === null ? undefined : (changes.lastError ?? claim.record.lastError),
    });
    const firstNotFoundAt =
      changes.firstNotFoundAt === null ? undefined : (changes.firstNotFoundAt ?? claim.firstNotFoundAt);
    return { record, etag: claim.etag, resultBlob: claim.resultBlob, firstNotFoundAt };
  }

  observe(table: TableRole, operation: StorageOperation, entities: number): void {
    this.storageObserver?.({ table, operation, entities });
  }

  private observerOf(table: TableRole): TableObserver {
    return (operation, entities) => this.observe(table, operation, entities);
  }
}

/** Terminal answers replace pending and our own give-ups; never a stored result or a cancel. */
function acceptsTerminal(state: TrackingState): boolean {
  return state === 'pending' || state === 'expired' || state === 'not_found';
}

/** The due entry a record's own `nextCheckAt` stands for, if it has one. */
export function dueKeyOf(record: TrackingRecord): string | undefined {
  if (record.nextCheckAt === undefined) return undefined;
  return dueRowKey(record, Date.parse(record.nextCheckAt));
}
