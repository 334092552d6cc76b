import type { SweepReport } from './sweep.js';

/** The one log line each sweep run writes. */
export function describeSweepReport(report: SweepReport): string {
  return [
    `Sweep ${report.stoppedEarly ? 'stopped early' : 'completed'}:`,
    `claimed=${report.claimed}`,
    `finished=${report.finished}`,
    `stillPending=${report.stillPending}`,
    `errors=${report.errors}`,
    `throttled=${report.throttled}`,
    `expired=${report.expired}`,
    `notFound=${report.notFound}`,
    `skipped=${report.skipped}`,
    `durationMs=${Math.round(report.durationMs)}`,
  ].join(' ');
}
