import type { SweepSettings } from '../config/settings.js';
import { isPartnerCenterError } from '../partner-center/errors.js';
import { type BatchUploadDetails, isTerminalBatchStatus } from '../partner-center/model.js';
import type { TrackingError } from './model.js';
import type { CheckChanges, Claim } from './tracking-records.js';

/** What checking a claimed tracking came to: the input of {@link decide}. */
export type CheckResult =
  /** Partner Center answered; `checked: false` when the answer is a result a crashed run had stored. */
  | { kind: 'answer'; details: BatchUploadDetails; checked: boolean }
  /** Partner Center (or the way to it) failed with something other than throttling. */
  | { kind: 'failed'; error: unknown }
  /** Throttled (429, answered at `answeredAt`), and no more attempts this run: back when the pause ends. */
  | { kind: 'throttled'; error: unknown; answeredAt: Date; until: Date }
  /** Not asked: a throttling pause met earlier in the run outlasts its time budget. */
  | { kind: 'paused'; until: Date }
  /** Not asked, or the answer is moot: the host is shutting the run down. */
  | { kind: 'aborted' };

/** Why a tracking stays pending. `error` is the one counted as a failed check. */
export type RescheduleReason = 'not_terminal' | 'not_found_grace' | 'throttled' | 'paused' | 'error';

/** What to do with a claimed tracking: the output of {@link decide}, the input of `apply`. */
export type Verdict =
  /** Terminal: store the result and complete the record. */
  | { kind: 'finished'; details: BatchUploadDetails; checked: boolean }
  /** Still pending: record the check and file the next one at `at`. */
  | { kind: 'reschedule'; at: Date; reason: RescheduleReason; changes: CheckChanges }
  /** End without a result: too old (`expired`), or 404 beyond the grace period (`not_found`). */
  | { kind: 'giveUp'; state: 'expired' | 'not_found'; changes: CheckChanges }
  /** No verdict: give the claim back, due again at once, no check counted. */
  | { kind: 'release' };

export type DecisionSettings = Pick<
  SweepSettings,
  'initialBackoffMs' | 'maxBackoffMs' | 'maxTrackingAgeMs' | 'notFoundGraceMs'
>;

const MAX_MESSAGE_LENGTH = 500;

/**
 * The sweep's whole policy for one claimed tracking, as a pure function of the claim, what the
 * check came to, the settings and the time: terminal answers finish; a 404 waits out its grace
 * period, then gives up; anything not terminal expires when too old, else is rescheduled with
 * backoff; throttling and pauses come back when the pause ends. `jitter` in [0, 1] spreads the
 * backoff (the sweep passes a random number).
 */
export function decide(
  claim: Claim,
  result: CheckResult,
  settings: DecisionSettings,
  now: Date,
  jitter = 1,
): Verdict {
  switch (result.kind) {
    case 'aborted':
      return { kind: 'release' };
    case 'paused':
      return {
        kind: 'reschedule',
        at: later(result.until, now),
        reason: 'paused',
        changes: { checked: false },
      };
    case 'throttled':
      return {
        kind: 'reschedule',
        at: later(result.until, now),
        reason: 'throttled',
        changes: { checked: true, lastError: trackingError(result.error, result.answeredAt) },
      };
    case 'answer': {
      const { details, checked } = result;
      if (isTerminalBatchStatus(details.status)) return { kind: 'finished', details, checked };
      const changes: CheckChanges = {
        checked: true,
        upstreamStatus: details.status.slice(0, 64),
        startedTime: details.startedTime,
        lastError: null,
        firstNotFoundAt: null,
      };
      return checkAgainLater(claim, changes, 'not_terminal', settings, now, jitter);
    }
    case 'failed': {
      const lastError = trackingError(result.error, now);
      if (isPartnerCenterError(result.error) && result.error.isNotFound) {
        const firstNotFoundAt = claim.firstNotFoundAt ?? now.toISOString();
        const changes: CheckChanges = { checked: true, lastError, firstNotFoundAt };
        if (now.getTime() - Date.parse(firstNotFoundAt) >= settings.notFoundGraceMs) {
          return { kind: 'giveUp', state: 'not_found', changes };
        }
        return checkAgainLater(claim, changes, 'not_found_grace', settings, now, jitter);
      }
      return checkAgainLater(claim, { checked: true, lastError }, 'error', settings, now, jitter);
    }
  }
}

/** Not done yet: expired when too old, otherwise the next check after a backoff. */
function checkAgainLater(
  claim: Claim,
  changes: CheckChanges,
  reason: RescheduleReason,
  settings: DecisionSettings,
  now: Date,
  jitter: number,
): Verdict {
  if (now.getTime() - Date.parse(claim.record.registeredAt) >= settings.maxTrackingAgeMs) {
    return { kind: 'giveUp', state: 'expired', changes };
  }
  return { kind: 'reschedule', at: nextCheck(claim, settings, now, jitter), reason, changes };
}

/**
 * Exponential in the number of checks so far, capped, with jitter in [base/2, base]: spread out,
 * and still never shorter than the previous step's longest wait.
 */
export function nextCheck(claim: Claim, settings: DecisionSettings, now: Date, jitter: number): Date {
  const { initialBackoffMs, maxBackoffMs } = settings;
  const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(claim.record.checks, 30));
  const jittered = base / 2 + (base / 2) * Math.min(Math.max(jitter, 0), 1);
  return new Date(now.getTime() + Math.max(1, Math.round(jittered)));
}

function later(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

/** What the record keeps of a failed check: the upstream facts, bounded; never an unknown error's text. */
export function trackingError(error: unknown, now: Date): TrackingError {
  if (isPartnerCenterError(error)) {
    return {
      at: now.toISOString(),
      message: error.message.slice(0, MAX_MESSAGE_LENGTH),
      ...(error.statusCode !== undefined ? { status: error.statusCode } : {}),
      ...(error.code !== undefined ? { code: error.code.slice(0, 100) } : {}),
      failure: error.failure,
      ...(error.requestId !== undefined ? { requestId: error.requestId.slice(0, 100) } : {}),
    };
  }
  return {
    at: now.toISOString(),
    message: 'Unexpected error while checking the batch status',
    failure: 'internal',
  };
}
