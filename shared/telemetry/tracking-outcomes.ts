import { isTerminalBatchStatus } from '../partner-center/model.js';
import type { TrackingRecord } from '../trackings/model.js';
import type { TrackingStore } from '../trackings/tracking-store.js';
import type { TrackingOutcome } from './reporter.js';

/** Who hears about trackings starting and ending. Called after the store's write succeeded. */
export interface TrackingOutcomeObserver {
  trackingRegistered(record: TrackingRecord): void;
  trackingCompleted(outcome: TrackingOutcome, completedAt: Date): void;
}

/**
 * Makes `store` tell `observer` when a tracking is registered and when it reaches a final outcome,
 * whoever drove it there: the sweep (`complete`, `giveUp`) or a live lookup's write-through
 * (`recordTerminal`). The store is the one place all of these pass through, so observing it here
 * needs no change to the store, the sweep or the lookup; the methods keep their contracts and the
 * observer can never make one fail.
 *
 * "Completed now" is told apart from "was already final" by the write itself: a terminal write
 * stamps `lastCheckedAt` with the time it was given, which a record finished earlier does not carry.
 */
export function observeTrackingOutcomes(
  store: TrackingStore,
  observer: TrackingOutcomeObserver,
): TrackingStore {
  const register = store.register.bind(store);
  const complete = store.complete.bind(store);
  const recordTerminal = store.recordTerminal.bind(store);
  const giveUp = store.giveUp.bind(store);

  store.register = async (...args: Parameters<TrackingStore['register']>) => {
    const result = await register(...args);
    if (result.created) safely(() => observer.trackingRegistered(result.record));
    return result;
  };

  const reportTerminal = (record: TrackingRecord | undefined, now: Date) => {
    if (record && isTerminalBatchStatus(record.state) && record.lastCheckedAt === now.toISOString()) {
      safely(() => observer.trackingCompleted(record, now));
    }
  };
  store.complete = async (...args: Parameters<TrackingStore['complete']>) => {
    const record = await complete(...args);
    reportTerminal(record, args[2]);
    return record;
  };
  store.recordTerminal = async (...args: Parameters<TrackingStore['recordTerminal']>) => {
    const record = await recordTerminal(...args);
    reportTerminal(record, args[2]);
    return record;
  };

  store.giveUp = async (...args: Parameters<TrackingStore['giveUp']>) => {
    const written = await giveUp(...args);
    const [claim, state, outcome, now] = args;
    if (written) {
      safely(() =>
        observer.trackingCompleted(
          {
            customerId: claim.key.customerId,
            trackingId: claim.key.trackingId,
            state,
            registeredAt: claim.record.registeredAt,
            checks: claim.record.checks + (outcome.checked ? 1 : 0),
          },
          now,
        ),
      );
    }
    return written;
  };
  return store;
}

function safely(report: () => void): void {
  try {
    report();
  } catch {
    // Telemetry never fails the work it observes.
  }
}
