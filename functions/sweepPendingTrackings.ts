import { app, type InvocationContext, type Timer } from '@azure/functions';
import { sweepScheduleBinding } from '../shared/config/sweep-schedule.js';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** Checks every due pending tracking once, stores finished results, reschedules the rest. */
export async function sweepPendingTrackings(timer: Timer, context: InvocationContext): Promise<void> {
  const { correlatedInvocation, describeSweepReport, services } = await domain();
  const invocation = correlatedInvocation(context);
  const { log, correlationId } = invocation;
  const { telemetry } = services();
  try {
    await telemetry.runInvocation(invocation, async () => {
      if (timer.isPastDue) log.warn('The sweep is running late');
      const report = await services().sweeper(log).run({ correlationId });
      log.info(describeSweepReport(report));
      await services().sweepTelemetry.report(report, log);
    });
  } finally {
    // The instance may idle (and be frozen) as soon as this returns: send the run's telemetry now.
    await telemetry.flush();
  }
}

app.timer('sweepPendingTrackings', {
  schedule: sweepScheduleBinding(),
  handler: sweepPendingTrackings,
});
