import type { AppUserCredentialEvent } from '../credentials/app-user-credential.js';
import type { UpstreamCallInfo } from '../partner-center/client.js';
import type { BatchKey } from '../partner-center/model.js';
import type { BatchSummary, TrackingRecord } from '../trackings/model.js';
import type { TrackingOutcomeObserver } from '../trackings/outcomes.js';
import type { SweepReport } from '../trackings/sweep.js';
import type { Telemetry } from './telemetry.js';

/** Names of what the app reports: the contract of docs/operating.md and its queries. */
export const TelemetryNames = {
  events: {
    trackingRegistered: 'TrackingRegistered',
    trackingCompleted: 'TrackingCompleted',
    sweepCompleted: 'SweepCompleted',
    requestFailed: 'RequestFailed',
    refreshToken: 'RefreshTokenRotation',
    writeThroughFailed: 'WriteThroughFailed',
  },
  metrics: {
    upstreamLatency: 'UpstreamLatencyMs',
    upstreamThrottled: 'UpstreamThrottled',
    dueBacklog: 'DueBacklog',
    oldestPendingAge: 'OldestPendingAgeSeconds',
  },
} as const;

/** What the due index looked like at the end of a sweep. */
export interface DueBacklog {
  /** Trackings due now and not yet checked (counted up to a cap). */
  due: number;
  /** True when counting stopped at the cap: there are at least `due`. */
  capped: boolean;
  /** How long the longest-waiting due tracking has been due; 0 when none is. */
  oldestPendingAgeSeconds: number;
}

/** A request answered with a problem, as telemetry counts it. */
export interface RequestFailure {
  functionName?: string;
  status: number;
  problemType: string;
  upstreamStatus?: number;
  upstreamCode?: string;
}

/** A tracking that reached a final outcome, as far as telemetry needs to know it. */
export interface TrackingOutcome {
  customerId: string;
  trackingId: string;
  state: string;
  registeredAt: string;
  checks: number;
  summary?: BatchSummary;
}

/**
 * Turns the app's domain facts into telemetry items with stable names and dimensions. Items carry
 * ids, counts and codes, never a device list, a token, a secret or free text a caller wrote.
 */
export class TelemetryReporter {
  constructor(private readonly telemetry: Telemetry) {}

  /**
   * `TrackingRegistered` and `TrackingCompleted` from the tracking records' outcome observer: every
   * final state but `cancelled` (a caller's decision, not an outcome), whoever wrote it.
   */
  readonly trackingOutcomes: TrackingOutcomeObserver = {
    trackingRegistered: (record) => this.trackingRegistered(record),
    trackingEnded: ({ record, at }) => {
      if (record.state !== 'cancelled') this.trackingCompleted(record, at);
    },
  };

  trackingRegistered(record: TrackingRecord): void {
    this.telemetry.trackEvent(TelemetryNames.events.trackingRegistered, {
      customerId: record.customerId,
      trackingId: record.trackingId,
    });
  }

  /** A tracking reached a final state: a terminal batch status, or `expired` / `not_found`. */
  trackingCompleted(outcome: TrackingOutcome, completedAt: Date): void {
    const summary = outcome.summary;
    const failed = summary?.errors.reduce((sum, e) => sum + e.count, 0);
    this.telemetry.trackEvent(
      TelemetryNames.events.trackingCompleted,
      {
        customerId: outcome.customerId,
        trackingId: outcome.trackingId,
        finalState: outcome.state,
        // Counts per device error code (a handful at most: summaries bound them), not the devices.
        errorCodes: summary
          ? JSON.stringify(Object.fromEntries(summary.errors.map((e) => [e.code, e.count])))
          : undefined,
      },
      {
        devices: summary?.devices,
        failedDevices: failed,
        checks: outcome.checks,
        secondsToComplete: Math.max(0, (completedAt.getTime() - Date.parse(outcome.registeredAt)) / 1000),
      },
    );
  }

  sweepCompleted(report: SweepReport, backlog: DueBacklog | undefined): void {
    this.telemetry.trackEvent(
      TelemetryNames.events.sweepCompleted,
      { stoppedEarly: String(report.stoppedEarly) },
      {
        claimed: report.claimed,
        finished: report.finished,
        pending: report.stillPending,
        errors: report.errors,
        throttled: report.throttled,
        expired: report.expired,
        notFound: report.notFound,
        skipped: report.skipped,
        durationMs: Math.round(report.durationMs),
        dueBacklog: backlog?.due,
        oldestPendingAgeSeconds: backlog?.oldestPendingAgeSeconds,
      },
    );
    if (backlog) {
      const capped = { capped: String(backlog.capped) };
      this.telemetry.trackMetric(TelemetryNames.metrics.dueBacklog, backlog.due, capped);
      this.telemetry.trackMetric(TelemetryNames.metrics.oldestPendingAge, backlog.oldestPendingAgeSeconds);
    }
  }

  /** Every completed Partner Center call (the client's `onResponse`), retries included in its latency. */
  upstreamResponse(info: UpstreamCallInfo): void {
    const dimensions = {
      correlationId: info.correlationId,
      status: info.status === undefined ? 'none' : String(info.status),
      outcome: info.failure ?? 'ok',
    };
    this.telemetry.trackMetric(
      TelemetryNames.metrics.upstreamLatency,
      Math.round(info.durationMs),
      dimensions,
    );
    if (info.status === 429 || info.failure === 'throttled') {
      this.telemetry.trackMetric(TelemetryNames.metrics.upstreamThrottled, 1, dimensions);
    }
  }

  /** App+User: a rotated refresh token written back (or not), or consent found missing. Never the token. */
  refreshTokenEvent(event: AppUserCredentialEvent): void {
    this.telemetry.trackEvent(TelemetryNames.events.refreshToken, {
      outcome: event.kind,
      attempts: 'attempts' in event ? String(event.attempts) : undefined,
      version: 'version' in event ? event.version : undefined,
      reason: 'reason' in event ? event.reason : undefined,
    });
  }

  /**
   * A live lookup's terminal answer could not be written through to tracking storage: the caller
   * got its answer, the sweep stores the result on its next pass. Counted, with the error's name only.
   */
  writeThroughFailed(failure: { key: BatchKey; correlationId?: string; error: unknown }): void {
    this.telemetry.trackEvent(TelemetryNames.events.writeThroughFailed, {
      customerId: failure.key.customerId,
      trackingId: failure.key.trackingId,
      correlationId: failure.correlationId,
      error: failure.error instanceof Error ? failure.error.name : 'unknown',
    });
  }

  /** An HTTP call answered with a problem: counts by problem type and upstream code, for alerts. */
  requestFailed(failure: RequestFailure): void {
    this.telemetry.trackEvent(TelemetryNames.events.requestFailed, {
      functionName: failure.functionName,
      status: String(failure.status),
      problemType: failure.problemType,
      upstreamStatus: failure.upstreamStatus === undefined ? undefined : String(failure.upstreamStatus),
      upstreamCode: failure.upstreamCode,
    });
  }
}
