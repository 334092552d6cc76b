import { withoutUndefined } from '../objects/without-undefined.js';
import type { BatchKey, BatchUploadDetails } from '../partner-center/model.js';
import type { NotificationStatus, TrackingList, TrackingRecord } from './model.js';
import { dueRowKey } from './tracking-entities.js';
import type { ListTrackingsOptions } from './tracking-listing.js';
import { dueKeyOf, type TrackingRecords } from './tracking-records.js';

const MAX_CONFLICT_RETRIES = 5;

/**
 * The caller side of tracking storage: what the HTTP API and a live lookup's write-through do with
 * trackings (register, get, list, cancel, record a terminal answer). The sweep's side of the same
 * records is the SweepScheduler.
 */
export class TrackingRepository {
  constructor(private readonly records: TrackingRecords) {}

  /**
   * Registers a tracking, due at once. Idempotent: registering a known tracking returns it
   * unchanged; of two concurrent registers one creates and the other gets the created record.
   */
  async register(
    key: BatchKey,
    input: { label?: string; notification?: NotificationStatus },
    now: Date,
  ): Promise<{ record: TrackingRecord; created: boolean }> {
    const existing = await this.records.load(key);
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
    const { due, listing } = this.records;
    await Promise.all([due.put(key, dueKey), listing.putHints(key, nowMs, 'pending')]);
    if (await this.records.create(record)) return { record, created: true };

    // Lost a race with a concurrent register: theirs stands; drop our hints where they differ.
    const winner = await this.records.load(key);
    if (!winner) {
      throw new Error(`Tracking ${key.customerId}/${key.trackingId} conflicted on create but cannot be read`);
    }
    const cleanups: Promise<void>[] = [];
    if (dueKeyOf(winner.record) !== dueKey) cleanups.push(due.remove(dueKey));
    if (Date.parse(winner.record.registeredAt) !== nowMs) cleanups.push(listing.removeHints(key, nowMs));
    await Promise.all(cleanups);
    return { record: winner.record, created: false };
  }

  async get(key: BatchKey): Promise<TrackingRecord | undefined> {
    return (await this.records.load(key))?.record;
  }

  /** Subscriptions (a new `notify.url`) and delivery outcomes: see TrackingRecords.updateNotification. */
  updateNotification(
    key: BatchKey,
    change: (record: TrackingRecord) => NotificationStatus | undefined,
  ): Promise<TrackingRecord | undefined> {
    return this.records.updateNotification(key, change);
  }

  /**
   * Newest registration first. Reads at most a few index pages per call, so a page may hold fewer
   * than `top` items and still carry a continuation token. Throws ValidationError for a bad token.
   */
  list(options: ListTrackingsOptions = {}): Promise<TrackingList> {
    return this.records.listing.list(options, (key) => this.records.load(key));
  }

  /** Stops tracking: pending becomes cancelled; a final record is returned unchanged. */
  async cancel(key: BatchKey, now: Date): Promise<TrackingRecord | undefined> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.records.load(key);
      if (!current) return undefined;
      if (current.record.state !== 'pending') return current.record;
      const record: TrackingRecord = withoutUndefined({
        ...current.record,
        state: 'cancelled' as const,
        nextCheckAt: undefined,
      });
      const stored = { ...current, record, cancelledAt: now.toISOString() };
      const ended = await this.records.end(stored, { at: now, by: 'caller' }, [dueKeyOf(current.record)]);
      if (ended) return ended;
    }
    throw new Error(`Tracking ${key.customerId}/${key.trackingId} kept changing while being cancelled`);
  }

  /**
   * Write-through for a live lookup that saw a terminal answer for a registered tracking: stores the
   * full result, then the record. Returns undefined when the tracking is not registered; a record
   * already finished (or cancelled) is returned unchanged, since terminal results are immutable.
   */
  recordTerminal(key: BatchKey, details: BatchUploadDetails, now: Date): Promise<TrackingRecord | undefined> {
    return this.records.writeTerminal(key, details, now, { by: 'lookup', checked: false });
  }
}
