import { setTimeout as delay } from 'node:timers/promises';
import type { SweepSettings } from '../config/settings.js';
import { describeError } from '../diagnostics/describe-error.js';
import type { Log } from '../diagnostics/log.js';
import { isPartnerCenterError } from '../partner-center/errors.js';
import type { BatchStatusReader, BatchUploadDetails } from '../partner-center/model.js';
import { CorruptResultError, type ResultStore } from './result-store.js';
import { type CheckResult, decide, type Verdict } from './sweep-decision.js';
import {
  type ApplyOutcome,
  type Claim,
  CorruptTrackingError,
  type DueEntry,
  type SweepScheduler,
} from './sweep-scheduler.js';

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

export interface SweeperOptions {
  scheduler: SweepScheduler;
  results: ResultStore;
  reader: BatchStatusReader;
  settings: SweepSettings;
  clock?: () => Date;
  /** In [0, 1); jitter of the backoff. */
  random?: () => number;
  /** Waits out a Retry-After pause; tests pass one that advances their clock. */
  sleep?: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  /** Per-tracking warnings; the run summary is logged by the caller from the SweepReport. */
  log?: Log;
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

type StopReason = 'budget' | 'max_claims' | 'aborted' | 'throttled';

interface Run {
  report: SweepReport;
  deadlineMs: number;
  pausedUntilMs: number;
  stop?: StopReason;
  options: SweepRunOptions;
}

/** What happened to one due entry, as the report counts it. */
type Tally = 'claimed' | 'skipped' | 'error' | 'throttled' | { verdict: Verdict; outcome: ApplyOutcome };

/**
 * Checks every due pending tracking: claims it (ETag lease), asks Partner Center, decides
 * (sweep-decision.ts, pure), applies the verdict (SweepScheduler) and counts it. Its cost follows
 * the due work only; it stops claiming at the time budget or the claim cap and leaves the rest due;
 * a 429 pauses all of its checks; one bad tracking never stops it.
 */
export class Sweeper {
  private readonly scheduler: SweepScheduler;
  private readonly results: ResultStore;
  private readonly reader: BatchStatusReader;
  private readonly settings: SweepSettings;
  private readonly clock: () => Date;
  private readonly random: () => number;
  private readonly sleep: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  private readonly log?: Log;
  private readonly pageSize: number;
  private readonly gate?: SweepGate;

  constructor(options: SweeperOptions) {
    this.scheduler = options.scheduler;
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
    const run: Run = {
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
    outer: for await (const page of this.scheduler.dueEntries(start, { pageSize: this.pageSize })) {
      for (const entry of page) {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        const held = (await this.gate?.whenClear(run.deadlineMs, options.abortSignal)) === false;
        run.stop ??= this.stopReason(run, reserved) ?? (held ? 'throttled' : undefined);
        if (run.stop) break outer;
        reserved += 1;
        const task = this.process(entry, run)
          .then((claimed) => {
            if (!claimed) reserved -= 1;
          })
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
    }
    await Promise.all(inFlight);
    try {
      await this.scheduler.flushDueIndex();
    } catch (error) {
      // Nothing is lost: the old entries still stand, and the next sweep redoes the clean-up.
      this.log?.warn('Some due-index updates could not be written; the next sweep redoes them', {
        error: describeError(error),
      });
    }
    if (run.stop || options.abortSignal?.aborted) run.report.stoppedEarly = true;
    run.report.durationMs = Math.max(0, this.clock().getTime() - start.getTime());
    return run.report;
  }

  private stopReason(run: Run, reserved: number): StopReason | undefined {
    if (run.options.abortSignal?.aborted) return 'aborted';
    if (this.clock().getTime() >= run.deadlineMs) return 'budget';
    if (reserved >= this.settings.maxClaimsPerRun) return 'max_claims';
    return undefined;
  }

  /** Claims, checks, decides, applies and counts one due entry; true when it was claimed. Never throws. */
  private async process(entry: DueEntry, run: Run): Promise<boolean> {
    let claim: Claim;
    try {
      const outcome = await this.scheduler.claim(entry, this.clock(), this.settings.leaseMs);
      if (!outcome.claimed) {
        count(run.report, 'skipped');
        return false;
      }
      claim = outcome.claim;
      count(run.report, 'claimed');
    } catch (error) {
      count(run.report, 'error');
      this.warn('Could not claim a due tracking; it stays due', entry.key, error);
      if (error instanceof CorruptTrackingError) {
        // Keep it out of every run's way without losing it.
        await this.scheduler
          .defer(entry, new Date(this.clock().getTime() + this.settings.maxBackoffMs))
          .catch(() => {});
      }
      return false;
    }
    try {
      const result = await this.check(claim, run);
      if (result.kind === 'failed' && !isPartnerCenterError(result.error)) {
        this.warn('Unexpected error while checking a tracking', claim.key, result.error);
      }
      const now = this.clock();
      const verdict = decide(claim, result, this.settings, now, this.random());
      count(run.report, { verdict, outcome: await this.scheduler.apply(claim, verdict, now) });
    } catch (error) {
      // The lease keeps it: the tracking is due again when the lease ends.
      count(run.report, 'error');
      this.warn('Checking a tracking failed; it is retried when its lease ends', claim.key, error);
    }
    return true;
  }

  /**
   * What checking a claim comes to: a result a crashed run stored, or Partner Center's answer,
   * waiting out the run's throttling pause before each attempt (a 429 pauses every check).
   */
  private async check(claim: Claim, run: Run): Promise<CheckResult> {
    // Only a claim whose predecessor never recorded its check can find a result stored by a run
    // that died between the result and the record: everyone else skips the read.
    const stored = claim.resumed ? await this.storedResult(claim) : undefined;
    if (stored) return { kind: 'answer', details: stored, checked: false };

    let throttled: { error: unknown; answeredAt: Date } | undefined;
    for (let attempt = 1; ; attempt++) {
      if (!(await this.waitForPause(run))) {
        // The pause outlasts the budget (or the run was aborted): come back after the pause.
        const until = new Date(Math.max(run.pausedUntilMs, this.clock().getTime()));
        return throttled ? { kind: 'throttled', ...throttled, until } : { kind: 'paused', until };
      }
      const now = this.clock();
      try {
        const { details } = await this.reader.getBatchStatus(claim.key.customerId, claim.key.trackingId, {
          maxRetryAfterMs: 0,
          abortSignal: run.options.abortSignal,
          correlationId: run.options.correlationId,
        });
        return { kind: 'answer', details, checked: true };
      } catch (error) {
        if (run.options.abortSignal?.aborted) return { kind: 'aborted' };
        if (!isPartnerCenterError(error) || !error.isThrottled) return { kind: 'failed', error };
        count(run.report, 'throttled');
        const pauseMs = error.retryAfterMs ?? DEFAULT_THROTTLE_PAUSE_MS;
        run.pausedUntilMs = Math.max(run.pausedUntilMs, now.getTime() + pauseMs);
        throttled = { error, answeredAt: now };
        if (attempt >= MAX_THROTTLED_ATTEMPTS) {
          return { kind: 'throttled', ...throttled, until: new Date(run.pausedUntilMs) };
        }
      }
    }
  }

  private async storedResult(claim: Claim): Promise<BatchUploadDetails | undefined> {
    try {
      return await this.results.get(claim.key);
    } catch (error) {
      if (!(error instanceof CorruptResultError)) throw error;
      this.warn('Replacing an unreadable stored result', claim.key, error);
      await this.results.delete(claim.key);
      return undefined;
    }
  }

  /** Waits out a throttling pause; false when it would pass the time budget (the sweep then stops claiming). */
  private async waitForPause(run: Run): Promise<boolean> {
    for (;;) {
      const nowMs = this.clock().getTime();
      if (run.pausedUntilMs <= nowMs) return !run.options.abortSignal?.aborted;
      if (run.pausedUntilMs >= run.deadlineMs || run.options.abortSignal?.aborted) {
        run.stop ??= 'throttled';
        return false;
      }
      await this.sleep(run.pausedUntilMs - nowMs, run.options.abortSignal);
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

/** The one place the report is counted. */
function count(report: SweepReport, tally: Tally): void {
  if (typeof tally === 'string') {
    report[tally === 'error' ? 'errors' : tally] += 1;
    return;
  }
  const { verdict, outcome } = tally;
  if (outcome === 'lost') {
    report.skipped += 1;
    return;
  }
  switch (verdict.kind) {
    case 'finished':
      report.finished += 1;
      return;
    case 'giveUp':
      report[verdict.state === 'expired' ? 'expired' : 'notFound'] += 1;
      return;
    case 'reschedule':
      report[verdict.reason === 'error' ? 'errors' : 'stillPending'] += 1;
      return;
    case 'release':
      report.stillPending += 1;
      return;
  }
}

async function defaultSleep(ms: number, abortSignal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, abortSignal ? { signal: abortSignal } : undefined);
  } catch {
    // Aborted: the caller re-checks the signal.
  }
}
