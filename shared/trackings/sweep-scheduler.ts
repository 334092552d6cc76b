import type { SweepSettings } from '../config/settings.js';
import type { Verdict } from './sweep-decision.js';
import { type DueEntry, dueRowKey } from './tracking-entities.js';
import type { CheckChanges, Claim, TrackingRecords } from './tracking-records.js';

export type { DueEntry } from './tracking-entities.js';
export { CorruptTrackingError } from './tracking-entities.js';
export type { Claim } from './tracking-records.js';

export interface SweepSchedulerOptions {
  /**
   * A due entry whose record does not exist is left alone this long (a register may be between
   * writing its index entries and its record), then removed. Default 10 minutes.
   */
  orphanGraceMs?: number;
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

/** `lost`: the record changed under the claim (cancelled, completed by a live lookup, re-claimed). */
export type ApplyOutcome = 'applied' | 'lost';

const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * The sweep side of tracking storage: the due index, claims, and writing a verdict. The caller
 * side of the same records is the TrackingRepository.
 *
 * A sweep keeps the entry that made a tracking due (earlier than any time it moves the record to)
 * until the check is recorded, then replaces it in one transaction with the entry of the next
 * check. Storage requests per checked tracking: read and claim the record, write the verdict (plus,
 * when it is terminal, the result blob and the listing hints); due-index changes go in
 * transactions of up to 100, queued until {@link flushDueIndex}.
 */
export class SweepScheduler {
  private readonly orphanGraceMs: number;

  constructor(
    private readonly records: TrackingRecords,
    options: SweepSchedulerOptions = {},
  ) {
    this.orphanGraceMs = options.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
  }

  /**
   * Due index entries with a due time at or before `now`, oldest first, one page at a time: the
   * sweep reads these and nothing of the history. Unreadable entries are removed on the way.
   */
  async *dueEntries(now: Date, options: { pageSize?: number } = {}): AsyncGenerator<DueEntry[]> {
    await this.records.tables.ensure();
    yield* this.records.due.entries(now, options);
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
  async claim(entry: DueEntry, now: Date, leaseMs: SweepSettings['leaseMs']): Promise<ClaimOutcome> {
    const { due, listing } = this.records;
    const nowMs = now.getTime();
    const current = await this.records.load(entry.key);
    if (!current) {
      if (nowMs - entry.dueMs > this.orphanGraceMs) await due.remove(entry.rowKey);
      return { claimed: false, reason: 'orphan' };
    }
    const { record } = current;
    if (record.state !== 'pending') {
      // A crash after the record went final may have left its listing hint, or the queueing of its
      // completion event, undone: mend both first (the entry stays until the event is queued).
      await listing.putHints(record, Date.parse(record.registeredAt), record.state);
      if (await this.records.announce(record)) await due.remove(entry.rowKey);
      return { claimed: false, reason: 'final' };
    }
    const nextMs = record.nextCheckAt === undefined ? nowMs : Date.parse(record.nextCheckAt);
    const recordKey = dueRowKey(entry.key, nextMs);
    if (nextMs > nowMs) {
      await due.refile(entry.key, entry.rowKey, recordKey);
      return { claimed: false, reason: 'not_due' };
    }

    const leaseEnd = new Date(nowMs + leaseMs);
    const leased = { ...record, nextCheckAt: leaseEnd.toISOString() };
    const etag = await this.records.replace({ ...current, record: leased }, now.toISOString());
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
   * Writes a verdict on a claimed tracking (If-Match on the claim's version). `lost` when the
   * record changed meanwhile: a cancel or a live lookup's completion stands, and so does another
   * sweep's claim after the lease ran out. A final verdict is told to the outcome observer by the
   * write itself (tracking-records.ts). Due-index changes are queued: see {@link flushDueIndex}.
   */
  async apply(claim: Claim, verdict: Verdict, now: Date): Promise<ApplyOutcome> {
    switch (verdict.kind) {
      case 'finished': {
        const record = await this.records.writeTerminal(claim.key, verdict.details, now, {
          by: 'sweep',
          checked: verdict.checked,
          claim,
        });
        if (!record) {
          throw new Error(
            `Tracking ${claim.key.customerId}/${claim.key.trackingId} disappeared while claimed`,
          );
        }
        return record.state === verdict.details.status ? 'applied' : 'lost';
      }
      case 'giveUp': {
        const ended = this.records.checked(claim, verdict.changes, now, {
          state: verdict.state,
          nextCheckAt: undefined,
        });
        const written = await this.records.end(ended, { at: now, by: 'sweep' }, claim.dueRowKeys, {
          queued: true,
        });
        return written ? 'applied' : 'lost';
      }
      case 'reschedule':
        return this.reschedule(claim, verdict.at, verdict.changes, now);
      case 'release':
        return this.reschedule(claim, now, { checked: false }, now);
    }
  }

  /**
   * Writes the queued due-index changes of recorded verdicts and waits for every one sent before.
   * A sweep calls it before it ends. Until then the old entries stay and still cover their
   * trackings: a crash only leaves clean-up to the next sweep, which redoes it from the records.
   * Rejects when some changes could not be written (with the same consequence).
   */
  flushDueIndex(): Promise<void> {
    return this.records.due.flush();
  }

  /** Moves a due entry that cannot be processed (corrupt record) to a later time, without losing it. */
  async defer(entry: DueEntry, until: Date): Promise<void> {
    await this.records.due.refile(entry.key, entry.rowKey, dueRowKey(entry.key, until.getTime()));
  }

  private async reschedule(claim: Claim, at: Date, changes: CheckChanges, now: Date): Promise<ApplyOutcome> {
    const next = this.records.checked(claim, changes, now, { nextCheckAt: at.toISOString() });
    if (!(await this.records.replace(next))) return 'lost';
    // The claim's entries (at or before the claim time) cover the tracking until the new entry is
    // written, in the same transaction that removes them.
    const nextRowKey = dueRowKey(claim.key, at.getTime());
    this.records.due.queue({
      put: { key: claim.key, rowKey: nextRowKey },
      remove: claim.dueRowKeys.filter((rowKey) => rowKey !== nextRowKey),
    });
    return 'applied';
  }
}
