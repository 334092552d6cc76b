import type { Log } from '../diagnostics/log.js';
import type { SweepReport } from '../trackings/sweep.js';
import type { SweepScheduler } from '../trackings/sweep-scheduler.js';
import { type DueBacklogOptions, measureDueBacklog } from './due-backlog.js';
import type { DueBacklog, TelemetryReporter } from './reporter.js';

/** Reports a finished sweep run: the run's counts, and the backlog it left in the due index. */
export class SweepTelemetry {
  constructor(
    private readonly reporter: TelemetryReporter,
    private readonly store: Pick<SweepScheduler, 'dueEntries'>,
    private readonly options: DueBacklogOptions & { clock?: () => Date } = {},
  ) {}

  /**
   * `SweepCompleted`, `DueBacklog` and `OldestPendingAgeSeconds`. Never throws: a backlog that
   * cannot be read is reported as unknown (and returned as undefined).
   */
  async report(report: SweepReport, log?: Log): Promise<DueBacklog | undefined> {
    let backlog: DueBacklog | undefined;
    try {
      backlog = await measureDueBacklog(
        this.store,
        (this.options.clock ?? (() => new Date()))(),
        this.options,
      );
    } catch (error) {
      log?.warn(`The due backlog could not be measured: ${error instanceof Error ? error.name : 'error'}`);
    }
    this.reporter.sweepCompleted(report, backlog);
    return backlog;
  }
}
