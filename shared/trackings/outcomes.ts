import type { TrackingRecord } from './model.js';

/** Who drove a tracking to its final state. */
export type EndedBy =
  /** The sweep: a terminal answer (or a result a crashed run had stored), or `expired` / `not_found`. */
  | 'sweep'
  /** A live lookup's write-through: `GET /api/batches/...` saw a terminal answer for a registered tracking. */
  | 'lookup'
  /** A caller's `DELETE`: `cancelled`. */
  | 'caller';

/** A tracking reached a final state: told once per transition, after the record's write succeeded. */
export interface TrackingEnding {
  /** The record as written: its `state` is the final state (`finished`, `finished_with_errors`, …). */
  record: TrackingRecord;
  /** The time the transition was written with. */
  at: Date;
  by: EndedBy;
}

/**
 * The hook for "a tracking started" and "a tracking reached final state X", whoever drove it there.
 * The records module (tracking-records.ts) calls it from the one place each transition is written:
 * a record created by `register`, and a pending (or given-up) record replaced by a final one under
 * If-Match. A write that loses its race (another sweep, a cancel, a live lookup got there first)
 * tells nothing, so overlapping sweeps and retries tell each transition exactly once; a record that
 * was already final is never told again. One exception, by design: `expired` and `not_found` are
 * our own verdicts, so a terminal answer seen later (a live lookup, a resumed sweep) still replaces
 * them, and that is a second transition, told again. See docs/design.md, "Outcome observer".
 *
 * Telemetry (`TrackingRegistered`, `TrackingCompleted`) listens here; so will notifications.
 * Methods are called synchronously after the write and must not throw: a failure here is the
 * observer's own (the records module swallows it) and never fails the work it observes.
 */
export interface TrackingOutcomeObserver {
  trackingRegistered?(record: TrackingRecord): void;
  trackingEnded?(ending: TrackingEnding): void;
}

/** Tells every observer; one that throws does not stop the others or the caller. */
export function combineOutcomeObservers(
  ...observers: (TrackingOutcomeObserver | undefined)[]
): TrackingOutcomeObserver {
  const present = observers.filter((o): o is TrackingOutcomeObserver => o !== undefined);
  return {
    trackingRegistered: (record) => {
      for (const o of present) safely(() => o.trackingRegistered?.(record));
    },
    trackingEnded: (ending) => {
      for (const o of present) safely(() => o.trackingEnded?.(ending));
    },
  };
}

function safely(tell: () => void): void {
  try {
    tell();
  } catch {
    // The observer's failure is its own: the write it observes already succeeded.
  }
}
