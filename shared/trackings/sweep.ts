import { setTimeout as delay } from 'node:timers/promises';
import type { SweepSettings } from '../config/settings.js';
import { isPartnerCenterError } from '../partner-center/errors.js';
import {
  type BatchStatusReader,
  type BatchUploadDetails,
  isTerminalBatchStatus,
} from '../partner-center/model.js';
import type { TrackingError } from './model.js';
import { CorruptResultError, type ResultStore } from './result-store.js';
import { type Claim, CorruptTrackingError, type DueEntry, type TrackingStore } from './tracking-store.js';

export interface SweepReport {
  /** Due trackings this run claimed (and so checked or completed). */
  claimed: number;
  /** Reached a terminal status (from Partner Center, or from a result a crashed run had stored). */
  finished: number;
  /** Checked and rescheduled: not terminal yet, a 404 within the grace period, or paused by throttling. */
  stillPending: number;
  /** Failed checks (rescheduled with backoff) and trackings that could not be processed. */
  errors: number;
  /** 429 answers from Partner Center; each paused the whole sweep. */
  throttled: number;
  expired: number;
  notFound: number;
  /** Due entries not checked: claimed by an overlapping sweep, stale index hints, or a claim lost mid-check. */
  skipped: number;
  durationMs: number;
  /** True when due work was left for the next run (time budget, claim cap, throttling, abort). */
  stoppedEarly: boolean;
}

/** Per-tracking warnings; the run summary is logged by the caller from the SweepReport. */
export interface SweepLog {
  warn(message: string, properties?: Record<string, string | number | undefined>): void;
}

export interface SweeperOptions {
  store: TrackingStore;
  results: ResultStore;
  reader: BatchStatusReader;
  settings: SweepSettings;
  clock?: () => Date;
  /** In [0, 1); jitter of the backoff. */
  random?: () => number;
  /** Waits out a Retry-After pause; tests pass one that advances their clock. */
  sleep?: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  log?: SweepLog;
  /** Due index entries read per request. */
  pageSize?: number;
  /** Partner Center's shared budget: consulted before each claim (see shared/budget). */
  gate?: SweepGate;
}

/** Holds the sweep back while Partner Center throttles the partner (any instance's 429). */
export interface SweepGate {
  /** False when the pause outlasts `deadlineMs` (or on abort): the sweep stops claiming. */
  whenClear(deadlineMs: number, abortSignal?: AbortSignal): Promise<boolean>;
}

export interface SweepRunOptions {
  abortSignal?: AbortSignal;
  /** Sent upstream as MS-CorrelationId for every check of this run. */
  correlationId?: string;
}

/** Used when a 429 carries no Retry-After. */
const DEFAULT_THROTTLE_PAUSE_MS = 30_000;
/** A tracking throttled this many times in one run is rescheduled instead of retried again. */
const MAX_THROTTLED_ATTEMPTS = 3;
const MAX_MESSAGE_LENGTH = 500;

type StopReason = 'budget' | 'max_claims' | 'aborted' | 'throttled';

interface RunState {
  report: SweepReport;
  deadlineMs: number;
  pausedUntilMs: number;
  stop?: StopReason;
  options: SweepRunOptions;
}

/**
 * Checks every due pending tracking: claims it (ETag lease), asks Partner Center, and completes or
 * reschedules it. Its cost follows the due work only; it stops claiming at the time budget or the
 * claim cap and leaves the rest due; a 429 pauses all of its checks; one bad tracking never stops it.
 */
export class Sweeper {
  private readonly store: TrackingStore;
  private readonly results: ResultStore;
  private readonly reader: BatchStatusReader;
  private readonly settings: SweepSettings;
  private readonly clock: () => Date;
  private readonly random: () => number;
  private readonly sleep: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  private readonly log?: SweepLog;
  private readonly pageSize: number;
  private readonly gate?: SweepGate;

  constructor(options: SweeperOptions) {
    this.store = options.store;
    this.results = options.results;
    this.reader = options.reader;
    this.settings = options.settings;
    this.clock = options.clock ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? defaultSleep;
    this.log = options.log;
    this.pageSize = options.pageSize ?? 100;
    this.gate = options.gate;
  }

  async run(options: SweepRunOptions = {}): Promise<SweepReport> {
    const start = this.clock();
    const state: RunState = {
      report: {
        claimed: 0,
        finished: 0,
        stillPending: 0,
        errors: 0,
        throttled: 0,
        expired: 0,
        notFound: 0,
        skipped: 0,
        durationMs: 0,
        stoppedEarly: false,
      },
      deadlineMs: start.getTime() + this.settings.timeBudgetMs,
      pausedUntilMs: 0,
      options,
    };
    const concurrency = Math.max(1, this.settings.concurrency);
    const inFlight = new Set<Promise<void>>();
    let reserved = 0;

    // Streamed: one page of the due index at a time, and no new page before a worker is free.
    outer: for await (const page of this.store.dueEntries(start, { pageSize: this.pageSize })) {
      for (const entry of page) {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        const held = (await this.gate?.whenClear(state.deadlineMs, options.abortSignal)) === false;
        const stop = this.stopReason(state, reserved) ?? (held ? 'throttled' : undefined);
        if (stop) {
          state.stop ??= stop;
          state.report.stoppedEarly = true;
          break outer;
        }
        reserved += 1;
        const task = this.process(entry, state)
          .then((claimed) => {
            if (!claimed) reserved -= 1;
          })
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
    }
    await Promise.all(inFlight);
    try {
      await this.store.flushDueIndex();
    } catch (error) {
      // Nothing is lost: the old entries still stand, and the next sweep redoes the clean-up.
      this.log?.warn('Some due-index updates could not be written; the next sweep redoes them', {
        error: describeError(error),
      });
    }
    if (state.stop === 'throttled' || options.abortSignal?.aborted) state.report.stoppedEarly = true;
    state.report.durationMs = Math.max(0, this.clock().getTime() - start.getTime());
    return state.report;
  }

  private stopReason(state: RunState, reserved: number): StopReason | undefined {
    if (state.stop) return state.stop;
    if (state.options.abortSignal?.aborted) return 'aborted';
    if (this.clock().getTime() >= state.deadlineMs) return 'budget';
    if (reserved >= this.settings.maxClaimsPerRun) return 'max_claims';
    return undefined;
  }

  /** Claims and checks one due entry; true when it was claimed. Never throws. */
  private async process(entry: DueEntry, state: RunState): Promise<boolean> {
    const { report } = state;
    let claim: Claim;
    try {
      const outcome = await this.store.claim(entry, this.clock(), this.settings.leaseMs);
      if (!outcome.claimed) {
        report.skipped += 1;
        return false;
      }
      claim = outcome.claim;
      report.claimed += 1;
    } catch (error) {
      report.errors += 1;
      this.warn('Could not claim a due tracking; it stays due', entry.key, error);
      if (error instanceof CorruptTrackingError) {
        // Keep it out of every run's way without losing it.
        await this.store
          .defer(entry, new Date(this.clock().getTime() + this.settings.maxBackoffMs))
          .catch(() => {});
      }
      return false;
    }
    try {
      await this.check(claim, state);
    } catch (error) {
      // The lease keeps it: the tracking is due again when the lease ends.
      report.errors += 1;
      this.warn('Checking a tracking failed; it is retried when its lease ends', claim.key, error);
    }
    return true;
  }

  private async check(claim: Claim, state: RunState): Promise<void> {
    const { report } = state;
    // Only a claim whose predecessor never recorded its check can find a result stored by a run
    // that died between the result and the record: everyone else skips the read.
    const stored = claim.resumed ? await this.storedResult(claim) : undefined;
    if (stored) {
      // A run crashed after writing the full result: finish from it, without asking Partner Center again.
      if (await this.complete(claim, stored, false, state)) report.finished += 1;
      return;
    }

    let throttledBy: TrackingError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (!(await this.waitForPause(state))) {
        // The pause outlasts the budget (or the run was aborted): come back after the pause.
        const nextCheckAt = new Date(Math.max(state.pausedUntilMs, this.clock().getTime()));
        const outcome = throttledBy ? { checked: true, lastError: throttledBy } : { checked: false };
        await this.reschedule(claim, { nextCheckAt, ...outcome }, state, 'stillPending');
        return;
      }
      const now = this.clock();
      let details: BatchUploadDetails;
      try {
        const response = await this.reader.getBatchStatus(claim.key.customerId, claim.key.trackingId, {
          maxRetryAfterMs: 0,
          ...(state.options.abortSignal ? { abortSignal: state.options.abortSignal } : {}),
          ...(state.options.correlationId ? { correlationId: state.options.correlationId } : {}),
        });
        details = response.details;
      } catch (error) {
        if (state.options.abortSignal?.aborted) {
          // The host is shutting the run down: no verdict on this tracking, it is due again at once.
          await this.reschedule(claim, { nextCheckAt: now, checked: false }, state, 'stillPending');
          return;
        }
        if (isPartnerCenterError(error) && error.isThrottled) {
          report.throttled += 1;
          const pauseMs = error.retryAfterMs ?? DEFAULT_THROTTLE_PAUSE_MS;
          state.pausedUntilMs = Math.max(state.pausedUntilMs, now.getTime() + pauseMs);
          throttledBy = trackingError(error, now);
          if (attempt < MAX_THROTTLED_ATTEMPTS) continue;
          await this.reschedule(
            claim,
            { nextCheckAt: new Date(state.pausedUntilMs), checked: true, lastError: throttledBy },
            state,
            'stillPending',
          );
          return;
        }
        await this.failed(claim, error, now, state);
        return;
      }

      if (isTerminalBatchStatus(details.status)) {
        if (await this.complete(claim, details, true, state)) report.finished += 1;
        return;
      }
      const outcome = {
        checked: true,
        upstreamStatus: details.status.slice(0, 64),
        startedTime: details.startedTime,
        lastError: null,
        firstNotFoundAt: null,
      };
      await this.checkAgainLater(claim, outcome, now, state, 'stillPending');
      return;
    }
  }

  /** An upstream failure other than throttling: 404 grace, expiry, or backoff with `lastError`. */
  private async failed(claim: Claim, error: unknown, now: Date, state: RunState): Promise<void> {
    const lastError = trackingError(error, now);
    if (isPartnerCenterError(error) && error.isNotFound) {
      const firstNotFoundAt = claim.firstNotFoundAt ?? now.toISOString();
      const outcome = { checked: true, lastError, firstNotFoundAt };
      if (now.getTime() - Date.parse(firstNotFoundAt) >= this.settings.notFoundGraceMs) {
        await this.giveUp(claim, 'not_found', outcome, now, state);
        return;
      }
      await this.checkAgainLater(claim, outcome, now, state, 'stillPending');
      return;
    }
    if (!isPartnerCenterError(error)) {
      this.warn('Unexpected error while checking a tracking', claim.key, error);
    }
    await this.checkAgainLater(claim, { checked: true, lastError }, now, state, 'errors');
  }

  /** Not done yet: expired when too old, otherwise the next check after a backoff. */
  private async checkAgainLater(
    claim: Claim,
    outcome: Parameters<TrackingStore['giveUp']>[2],
    now: Date,
    state: RunState,
    bucket: 'stillPending' | 'errors',
  ): Promise<void> {
    if (this.isExpired(claim, now)) {
      await this.giveUp(claim, 'expired', outcome, now, state);
      return;
    }
    await this.reschedule(claim, { ...outcome, nextCheckAt: this.nextCheck(claim, now) }, state, bucket);
  }

  private async storedResult(claim: Claim): Promise<BatchUploadDetails | undefined> {
    try {
      const stored = await this.results.get(claim.key);
      return stored && isTerminalBatchStatus(stored.status) ? stored : undefined;
    } catch (error) {
      if (!(error instanceof CorruptResultError)) throw error;
      this.warn('Replacing an unreadable stored result', claim.key, error);
      await this.results.delete(claim.key);
      return undefined;
    }
  }

  private async complete(
    claim: Claim,
    details: BatchUploadDetails,
    checked: boolean,
    state: RunState,
  ): Promise<boolean> {
    const record = await this.store.complete(claim, details, this.clock(), { checked });
    if (record.state === details.status) return true;
    // Cancelled meanwhile: the caller's decision stands.
    state.report.skipped += 1;
    return false;
  }

  private async reschedule(
    claim: Claim,
    outcome: Parameters<TrackingStore['reschedule']>[1],
    state: RunState,
    bucket: 'stillPending' | 'errors',
  ): Promise<void> {
    if (await this.store.reschedule(claim, outcome, this.clock())) state.report[bucket] += 1;
    else state.report.skipped += 1;
  }

  private async giveUp(
    claim: Claim,
    final: 'expired' | 'not_found',
    outcome: Parameters<TrackingStore['giveUp']>[2],
    now: Date,
    state: RunState,
  ): Promise<void> {
    if (await this.store.giveUp(claim, final, outcome, now)) {
      state.report[final === 'expired' ? 'expired' : 'notFound'] += 1;
    } else {
      state.report.skipped += 1;
    }
  }

  private isExpired(claim: Claim, now: Date): boolean {
    return now.getTime() - Date.parse(claim.record.registeredAt) >= this.settings.maxTrackingAgeMs;
  }

  /**
   * Exponential in the number of checks so far, capped, with jitter in [base/2, base]: spread out,
   * and still never shorter than the previous step's longest wait.
   */
  private nextCheck(claim: Claim, now: Date): Date {
    const { initialBackoffMs, maxBackoffMs } = this.settings;
    const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(claim.record.checks, 30));
    const jittered = base / 2 + (base / 2) * Math.min(Math.max(this.random(), 0), 1);
    return new Date(now.getTime() + Math.max(1, Math.round(jittered)));
  }

  /** Waits out a throttling pause; false when it would pass the time budget (the sweep then stops claiming). */
  private async waitForPause(state: RunState): Promise<boolean> {
    for (;;) {
      const nowMs = this.clock().getTime();
      if (state.pausedUntilMs <= nowMs) return !state.options.abortSignal?.aborted;
      if (state.pausedUntilMs >= state.deadlineMs || state.options.abortSignal?.aborted) {
        state.stop ??= 'throttled';
        return false;
      }
      await this.sleep(state.pausedUntilMs - nowMs, state.options.abortSignal);
    }
  }

  private warn(message: string, key: { customerId: string; trackingId: string }, error: unknown): void {
    this.log?.warn(message, {
      customerId: key.customerId,
      trackingId: key.trackingId,
      error: describeError(error),
    });
  }
}

async function defaultSleep(ms: number, abortSignal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, abortSignal ? { signal: abortSignal } : undefined);
  } catch {
    // Aborted: the caller re-checks the signal.
  }
}

function trackingError(error: unknown, now: Date): TrackingError {
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

/** Name and message only: never a stack, never request details that could carry a token. */
function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, MAX_MESSAGE_LENGTH);
  return String(error).slice(0, MAX_MESSAGE_LENGTH);
}
