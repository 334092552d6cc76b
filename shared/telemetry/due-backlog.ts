import type { SweepScheduler } from '../trackings/sweep-scheduler.js';
import type { DueBacklog } from './reporter.js';

export interface DueBacklogOptions {
  /** Counting stops here; the answer is then "at least this many". Default 5000. */
  maxEntries?: number;
  /** Due index entries per request. Default 1000 (Table storage's largest page). */
  pageSize?: number;
}

/**
 * How far behind the sweep is, from the due index alone: the entries due by `now`, oldest first,
 * so the first one tells the oldest pending age. It reads at most `maxEntries / pageSize` pages
 * (one when nothing is due), never the tracking history.
 */
export async function measureDueBacklog(
  store: Pick<SweepScheduler, 'dueEntries'>,
  now: Date,
  options: DueBacklogOptions = {},
): Promise<DueBacklog> {
  const maxEntries = options.maxEntries ?? 5000;
  let due = 0;
  let oldestDueMs: number | undefined;
  for await (const page of store.dueEntries(now, {
    pageSize: Math.min(options.pageSize ?? 1000, maxEntries),
  })) {
    for (const entry of page) {
      oldestDueMs ??= entry.dueMs;
      due += 1;
      if (due >= maxEntries) return result(due, true, now, oldestDueMs);
    }
  }
  return result(due, false, now, oldestDueMs);
}

function result(due: number, capped: boolean, now: Date, oldestDueMs: number | undefined): DueBacklog {
  const ageMs = oldestDueMs === undefined ? 0 : Math.max(0, now.getTime() - oldestDueMs);
  return { due, capped, oldestPendingAgeSeconds: Math.round(ageMs / 1000) };
}
