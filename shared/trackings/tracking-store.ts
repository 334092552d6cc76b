import type { TableEntity, TransactionAction } from '@azure/data-tables';
import pLimit from 'p-limit';
import type { StorageSettings } from '../config/settings.js';
import { markQueued } from '../notifications/notification-state.js';
import { type BatchKey, type BatchUploadDetails, isTerminalBatchStatus } from '../partner-center/model.js';
import type { StorageClients } from '../storage/clients.js';
import { statusCodeOf } from '../storage/rest-errors.js';
import { DueIndex, dueEntity } from './due-index.js';
import type {
  NotificationStatus,
  TrackingError,
  TrackingList,
  TrackingRecord,
  TrackingState,
} from './model.js';
import { ResultStore } from './result-store.js';
import { summarizeBatch } from './summary.js';
import {
  type DueEntry,
  dueRowKey,
  fromRecordEntity,
  normalizeUpstreamTime,
  type StoredTracking,
  toRecordEntity,
  trackingTableNames,
  withoutUndefined,
} from './tracking-entities.js';
import { type ListTrackingsOptions, listHintEntities, TrackingListing } from './tracking-listing.js';
import {
  type StorageObserver,
  type StorageOperation,
  type TableObserver,
  type TableRole,
  TRANSACTION_SIZE,
  type TrackingTables,
} from './tracking-tables.js';

export type { DueEntry } from './tracking-entities.js';
export { CorruptTrackingError } from './tracking-entities.js';
export type { ListTrackingsOptions } from './tracking-listing.js';
export type {
  StorageEvent,
  StorageObserver,
  StorageOperation,
  TableRole,
  TrackingTables,
} from './tracking-tables.js';

export interface TrackingStoreOptions {
  tables: TrackingTables;
  results: ResultStore;
  /** Sees every storage request: for tests and metrics ("the sweep reads only due trackings"). */
  observer?: StorageObserver;
  /**
   * A due entry whose record does not exist is left alone this long (a register may be between
   * writing its index entries and its record), then removed. Default 10 minutes.
   */
  orphanGraceMs?: number;
  /** Creates and queues completion events (webhooks); none when absent. */
  notifier?: CompletionNotifier;
}

/**
 * The completion-event hook of every terminal transition (sweep or live lookup). The event is
 * recorded in the same ETag write as the final state; its deliveries are queued after that write,
 * then `queuedAt` is set; the due entries that keep the tracking visible to the sweep go only
 * after that, so a crash in between leaves a sweep to queue it (and nothing is sent twice with
 * different ids).
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

export type ClaimOutcome =
  | { claimed: true; claim: Claim }
  | {
      claimed: false;
      /**
       * taken: another sweep claimed it first (ETag mismatch). not_due: the entry was a stale hint,
       * re-filed at the record's next check. final: the record is final; the entry was removed.
       * orphan: no record (yet).
       */
      reason: 'taken' | 'not_due' | 'final' | 'orphan';
    };

/** What a non-final check changes on a claimed tracking. */
export interface CheckOutcome {
  nextCheckAt: Date;
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

/** A stored tracking as loaded, with what only the store itself reads. */
interface LoadedTracking extends StoredTracking {
  claimedAt?: string;
}

const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000;
const MAX_CONFLICT_RETRIES = 5;

/**
 * Tracking records and their due and listing indexes in Table storage (layout: tracking-entities.ts;
 * the indexes: due-index.ts, tracking-listing.ts).
 *
 * The record is the source of truth; index entries are hints, reconciled with the record whenever
 * they are read. Invariant kept by every write order below, so that a crash at any point loses no
 * tracking: every pending record has at least one due entry at or before its `nextCheckAt`.
 * Entries are written before the record that needs them and deleted only after it moved on. A sweep
 * keeps the entry that made a tracking due (earlier than any time it moves the record to) until the
 * check is recorded, then replaces it in one transaction with the entry of the next check.
 *
 * Storage requests per checked tracking: read and claim the record, write the outcome (plus, when
 * it is terminal, the result blob and the listing hints); due-index changes go in transactions of
 * up to 100.
 */
export class TrackingStore {
  private readonly tables: TrackingTables;
  private readonly results: ResultStore;
  private readonly observer?: StorageObserver;
  private readonly orphanGraceMs: number;
  private readonly due: DueIndex;
  private readonly listing: TrackingListing;
  private readonly notifier?: CompletionNotifier;

  constructor(options: TrackingStoreOptions) {
    this.notifier = options.notifier;
    this.tables = options.tables;
    this.results = options.results;
    this.observer = options.observer;
    this.orphanGraceMs = options.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    this.due = new DueIndex(this.tables.due, this.observerOf('due'));
    this.listing = new TrackingListing(this.tables.list, () => this.tables.ensure(), this.observerOf('list'));
  }

  static fromClients(
    clients: StorageClients,
    settings: Pick<StorageSettings, 'tablePrefix' | 'resultContainer'>,
    options: {
      results?: ResultStore;
      observer?: StorageObserver;
      orphanGraceMs?: number;
      notifier?: CompletionNotifier;
    } = {},
  ): TrackingStore {
    const names = trackingTableNames(settings.tablePrefix);
    const tables: TrackingTables = {
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
    return new TrackingStore({
      tables,
      results: options.results ?? ResultStore.fromClients(clients, settings.resultContainer),
      observer: options.observer,
      orphanGraceMs: options.orphanGraceMs,
      notifier: options.notifier,
    });
  }

  // ---- caller side ----------------------------------------------------------------------------

  /**
   * Registers a tracking, due at once. Idempotent: registering a known tracking returns it
   * unchanged; of two concurrent registers one creates and the other gets the created record.
   */
  async register(
    key: BatchKey,
    input: { label?: string; notification?: NotificationStatus },
    now: Date,
  ): Promise<{ record: TrackingRecord; created: boolean }> {
    await this.tables.ensure();
    const existing = await this.load(key);
    if (existing) return { record: existing.record, created: false };

    const nowMs = now.getTime();
    const record: TrackingRecord = withoutUndefined({
      customerId: key.customerId,
      trackingId: key.trackingId,
      label: input.label,
      state: 'pending' as const,
      registeredAt: now.toISOString(),
      nextCheckAt: now.toISOString(),
      checks: 0,
      notification: input.notification,
    });
    // Index entries first: a crash before the record leaves only orphan hints, never a record no sweep finds.
    const dueKey = dueRowKey(key, nowMs);
    await Promise.all([this.due.put(key, dueKey), this.listing.putHints(key, nowMs, 'pending')]);
    try {
      await this.tables.trackings.createEntity(toRecordEntity({ record }));
      this.observe('trackings', 'insert', 1);
      return { record, created: true };
    } catch (error) {
      if (statusCodeOf(error) !== 409) throw error;
    }
    // Lost a race with a concurrent register: theirs stands; drop our hints where they differ.
    const winner = await this.load(key);
    if (!winner) {
      throw new Error(`Tracking ${key.customerId}/${key.trackingId} conflicted on create but cannot be read`);
    }
    const winnerMs = Date.parse(winner.record.registeredAt);
    const cleanups: Promise<void>[] = [];
    if (
      winner.record.nextCheckAt === undefined ||
      dueRowKey(key, Date.parse(winner.record.nextCheckAt)) !== dueKey
    ) {
      cleanups.push(this.due.remove(dueKey));
    }
    if (winnerMs !== nowMs) cleanups.push(this.listing.removeHints(key, nowMs));
    await Promise.all(cleanups);
    return { record: winner.record, created: false };
  }

  async get(key: BatchKey): Promise<TrackingRecord | undefined> {
    return (await this.load(key))?.record;
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
   * Newest registration first. Reads at most a few index pages per call, so a page may hold fewer
   * than `top` items and still carry a continuation token. Throws ValidationError for a bad token.
   */
  list(options: ListTrackingsOptions = {}): Promise<TrackingList> {
    return this.listing.list(options, (key) => this.load(key));
  }

  /** Stops tracking: pending becomes cancelled; a final record is returned unchanged. */
  async cancel(key: BatchKey, now: Date): Promise<TrackingRecord | undefined> {
    await this.tables.ensure();
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.load(key);
      if (!current) return undefined;
      if (current.record.state !== 'pending') return current.record;
      const record: TrackingRecord = withoutUndefined({
        ...current.record,
        state: 'cancelled' as const,
        nextCheckAt: undefined,
      });
      if (!(await this.replace({ ...current, record, cancelledAt: now.toISOString() }))) continue;
      await this.afterFinal(record, [dueKeyOf(current.record)]);
      return record;
    }
    throw new Error(`Tracking ${key.customerId}/${key.trackingId} kept changing while being cancelled`);
  }

  /**
   * Write-through for a live lookup that saw a terminal answer for a registered tracking: stores the
   * full result, then the record. Returns undefined when the tracking is not registered; a record
   * already finished (or cancelled) is returned unchanged, since terminal results are immutable.
   */
  async recordTerminal(
    key: BatchKey,
    details: BatchUploadDetails,
    now: Date,
  ): Promise<TrackingRecord | undefined> {
    await this.tables.ensure();
    return this.writeTerminal(key, details, now, { checked: false });
  }

  // ---- sweep side -----------------------------------------------------------------------------

  /**
   * Due index entries with a due time at or before `now`, oldest first, one page at a time: the
   * sweep reads these and nothing of the history. Unreadable entries are removed on the way.
   */
  async *dueEntries(now: Date, options: { pageSize?: number } = {}): AsyncGenerator<DueEntry[]> {
    await this.tables.ensure();
    yield* this.due.entries(now, options);
  }

  /**
   * Claims a due tracking for `leaseMs` with one If-Match write that moves its next check to the
   * lease end, so an overlapping sweep finds it not due. The entry is reconciled with the record
   * first: stale hints are re-filed at the record's time or removed. Throws CorruptTrackingError.
   *
   * The claim writes no due entry: the entry that made the tracking due (at or before now, so
   * before the lease end) keeps covering it until the check is recorded, and a crash at any point
   * leaves the tracking due. An overlapping sweep reading that entry re-files it at the lease end.
   */
  async claim(entry: DueEntry, now: Date, leaseMs: number): Promise<ClaimOutcome> {
    const nowMs = now.getTime();
    const current = await this.load(entry.key);
    if (!current) {
      if (nowMs - entry.dueMs > this.orphanGraceMs) await this.due.remove(entry.rowKey);
      return { claimed: false, reason: 'orphan' };
    }
    const { record } = current;
    if (record.state !== 'pending') {
      // A crash after the record went final may have left its listing hint, or the queueing of its
      // completion event, undone: mend both first (the entry stays until the event is queued).
      await this.listing.putHints(record, Date.parse(record.registeredAt), record.state);
      if (await this.announce(record)) await this.due.remove(entry.rowKey);
      return { claimed: false, reason: 'final' };
    }
    const nextMs = record.nextCheckAt === undefined ? nowMs : Date.parse(record.nextCheckAt);
    const recordKey = dueRowKey(entry.key, nextMs);
    if (nextMs > nowMs) {
      await this.due.refile(entry.key, entry.rowKey, recordKey);
      return { claimed: false, reason: 'not_due' };
    }

    const leaseEnd = new Date(nowMs + leaseMs);
    const leased: TrackingRecord = { ...record, nextCheckAt: leaseEnd.toISOString() };
    const etag = await this.replace({ ...current, record: leased }, now.toISOString());
    if (!etag) return { claimed: false, reason: 'taken' };
    return {
      claimed: true,
      claim: {
        key: entry.key,
        record: leased,
        etag,
        dueRowKeys: [...new Set([entry.rowKey, recordKey])],
        resumed: current.claimedAt !== undefined,
        firstNotFoundAt: current.firstNotFoundAt,
        resultBlob: current.resultBlob,
      },
    };
  }

  /**
   * Completes a claimed tracking with a terminal answer. Order: full result blob, then the record
   * that points at it, then the listing hint, then out of the due index (queued: see
   * {@link flushDueIndex}). When the record went final meanwhile (cancelled, or completed by a live
   * lookup), that stands and the claim's entries go.
   */
  async complete(
    claim: Claim,
    details: BatchUploadDetails,
    now: Date,
    options: { checked: boolean },
  ): Promise<TrackingRecord> {
    const start: StoredTracking = {
      record: claim.record,
      etag: claim.etag,
      resultBlob: claim.resultBlob,
      firstNotFoundAt: claim.firstNotFoundAt,
    };
    const record = await this.writeTerminal(claim.key, details, now, {
      ...options,
      start,
      dueRowKeys: claim.dueRowKeys,
    });
    if (!record)
      throw new Error(`Tracking ${claim.key.customerId}/${claim.key.trackingId} disappeared while claimed`);
    return record;
  }

  /**
   * Files the next check of a claimed tracking. Returns false when the claim was lost (the record
   * changed meanwhile: cancelled, completed by a live lookup, or re-claimed after the lease ran out).
   * Its due-index change is queued: see {@link flushDueIndex}.
   */
  async reschedule(claim: Claim, outcome: CheckOutcome, now: Date): Promise<boolean> {
    const nextCheckAt = outcome.nextCheckAt.toISOString();
    if (!(await this.writeCheck(claim, outcome, now, { nextCheckAt }))) return false;
    // The claim's entries (at or before the claim time) cover the tracking until the new entry is
    // written, in the same transaction that removes them.
    const nextRowKey = dueRowKey(claim.key, outcome.nextCheckAt.getTime());
    this.due.queue({
      put: { key: claim.key, rowKey: nextRowKey },
      remove: claim.dueRowKeys.filter((rowKey) => rowKey !== nextRowKey),
    });
    return true;
  }

  /**
   * Ends a claimed tracking without a result (`expired`, `not_found`). False when the claim was lost.
   * Its due-index change is queued: see {@link flushDueIndex}.
   */
  async giveUp(
    claim: Claim,
    state: 'expired' | 'not_found',
    outcome: Omit<CheckOutcome, 'nextCheckAt'>,
    now: Date,
  ): Promise<boolean> {
    const record = await this.writeCheck(claim, outcome, now, { state, nextCheckAt: undefined });
    if (!record) return false;
    await this.afterFinal(record, claim.dueRowKeys, { queued: true });
    return true;
  }

  /** Records a check's outcome on a claimed record (If-Match); undefined when the claim was lost. */
  private async writeCheck(
    claim: Claim,
    outcome: Omit<CheckOutcome, 'nextCheckAt'>,
    now: Date,
    changes: Pick<TrackingRecord, 'nextCheckAt'> & Partial<Pick<TrackingRecord, 'state'>>,
  ): Promise<TrackingRecord | undefined> {
    const checked: TrackingRecord = withoutUndefined({
      ...claim.record,
      ...changes,
      checks: claim.record.checks + (outcome.checked ? 1 : 0),
      lastCheckedAt: outcome.checked ? now.toISOString() : claim.record.lastCheckedAt,
      upstreamStatus: outcome.upstreamStatus ?? claim.record.upstreamStatus,
      startedTime: normalizeUpstreamTime(outcome.startedTime) ?? claim.record.startedTime,
      lastError: outcome.lastError === null ? undefined : (outcome.lastError ?? claim.record.lastError),
    });
    const record = changes.state ? this.withEvent(checked, now) : checked;
    const firstNotFoundAt =
      outcome.firstNotFoundAt === null ? undefined : (outcome.firstNotFoundAt ?? claim.firstNotFoundAt);
    const etag = await this.replace({
      record,
      etag: claim.etag,
      resultBlob: claim.resultBlob,
      firstNotFoundAt,
    });
    return etag ? record : undefined;
  }

  /**
   * Writes the queued due-index changes of recorded checks (reschedule, complete, giveUp) and waits
   * for every one sent before. A sweep calls it before it ends. Until then the old entries stay and
   * still cover their trackings: a crash only leaves clean-up to the next sweep, which redoes it
   * from the records. Rejects when some changes could not be written (with the same consequence).
   */
  flushDueIndex(): Promise<void> {
    return this.due.flush();
  }

  /** Moves a due entry that cannot be processed (corrupt record) to a later time, without losing it. */
  async defer(entry: DueEntry, until: Date): Promise<void> {
    await this.due.refile(entry.key, entry.rowKey, dueRowKey(entry.key, until.getTime()));
  }

  // ---- bulk -----------------------------------------------------------------------------------

  /**
   * Writes many records at once (migration, benchmarks, test history) in table transactions of
   * 100 per partition; index entries before records, as everywhere else.
   */
  async importRecords(
    records: readonly TrackingRecord[],
    options: { concurrency?: number } = {},
  ): Promise<void> {
    await this.tables.ensure();
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
    const submit = (role: TableRole, groups: Map<string, TransactionAction[]>) =>
      Promise.all(
        [...groups.values()].flatMap((actions) =>
          chunk(actions, TRANSACTION_SIZE).map((part) =>
            limit(async () => {
              await this.tables[role].submitTransaction(part);
              this.observe(role, 'transaction', part.length);
            }),
          ),
        ),
      );
    await Promise.all([submit('due', due), submit('list', list)]);
    await submit('trackings', trackings);
  }

  // ---- internals ------------------------------------------------------------------------------

  private async writeTerminal(
    key: BatchKey,
    details: BatchUploadDetails,
    now: Date,
    /** start and dueRowKeys: a sweep's claim (its record version and the entries it still has). */
    options: { checked: boolean; start?: StoredTracking; dueRowKeys?: string[] },
  ): Promise<TrackingRecord | undefined> {
    if (!isTerminalBatchStatus(details.status)) {
      throw new Error(`Batch status ${JSON.stringify(details.status)} is not terminal`);
    }
    let current = options.start ?? (await this.load(key));
    let resultBlob: string | undefined;
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      if (!current) return undefined;
      if (!acceptsTerminal(current.record.state)) {
        // Final already: what stands needs no due entries (its listing hint is mended first).
        if (options.dueRowKeys) await this.afterFinal(current.record, options.dueRowKeys, { queued: true });
        return current.record;
      }
      // The full result first: a record never points at a result that is not there.
      resultBlob ??= await this.results.put(key, details);
      const record: TrackingRecord = this.withEvent(
        withoutUndefined({
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
        }),
        now,
      );
      const etag = await this.replace({ record, etag: current.etag, resultBlob, firstNotFoundAt: undefined });
      if (etag) {
        // A claimed record's own next check is its lease end, where no entry was written: only a
        // record read back after a conflict may have an entry there.
        const recordEntry = current === options.start ? undefined : dueKeyOf(current.record);
        await this.afterFinal(record, [recordEntry, ...(options.dueRowKeys ?? [])], {
          queued: options.dueRowKeys !== undefined,
        });
        return record;
      }
      current = await this.load(key);
    }
    throw new Error(`Tracking ${key.customerId}/${key.trackingId} kept changing while being completed`);
  }

  /**
   * After a record went final: listing hint, then the due entries it no longer needs (at once, or
   * `queued` with the sweep's other due-index changes).
   */
  private async afterFinal(
    record: TrackingRecord,
    dueRowKeys: (string | undefined)[],
    options: { queued?: boolean } = {},
  ): Promise<void> {
    const key = { customerId: record.customerId, trackingId: record.trackingId };
    await this.listing.putHints(key, Date.parse(record.registeredAt), record.state);
    // Not queued: the due entries keep the tracking visible, so a later sweep queues it.
    if (!(await this.announce(record))) return;
    await this.due.removeAll(dueRowKeys, options);
  }

  private withEvent(record: TrackingRecord, now: Date): TrackingRecord {
    return this.notifier ? this.notifier.attach(record, now) : record;
  }

  /**
   * Queues the deliveries of a final record's event unless that was done, then marks it queued.
   * True when nothing is left to queue. A failure to mark only means a later sweep queues again
   * (the same event id: a receiver sees a repeat, never a second event).
   */
  private async announce(record: TrackingRecord): Promise<boolean> {
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

  private async load(key: BatchKey): Promise<LoadedTracking | undefined> {
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
   * `claimedAt` is claim()'s marker: every other write drops it.
   */
  private async replace(stored: StoredTracking, claimedAt?: string): Promise<string | undefined> {
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

  private observe(table: TableRole, operation: StorageOperation, entities: number): void {
    this.observer?.({ table, operation, entities });
  }

  private observerOf(table: TableRole): TableObserver {
    return (operation, entities) => this.observe(table, operation, entities);
  }
}

/** Terminal answers replace pending and our own give-ups; never a stored result or a cancel. */
function acceptsTerminal(state: TrackingState): boolean {
  return state === 'pending' || state === 'expired' || state === 'not_found';
}

function dueKeyOf(record: TrackingRecord): string | undefined {
  if (record.nextCheckAt === undefined) return undefined;
  return dueRowKey(record, Date.parse(record.nextCheckAt));
}

function chunk<T>(items: T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}
