import { randomUUID } from 'node:crypto';
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { services } from '../shared/composition.js';
import { sweepScheduleBinding } from '../shared/config/settings.js';
import { describeSweepReport } from '../shared/trackings/sweep-summary.js';

/** Checks every due pending tracking once, stores finished results, reschedules the rest. */
export async function sweepPendingTrackings(timer: Timer, context: InvocationContext): Promise<void> {
  const correlationId = randomUUID();
  if (timer.isPastDue) context.warn(`The sweep is running late (correlationId=${correlationId})`);
  const report = await services().sweeper(context).run({ correlationId });
  context.log(`${describeSweepReport(report)} correlationId=${correlationId}`);
}

app.timer('sweepPendingTrackings', {
  schedule: sweepScheduleBinding(),
  handler: sweepPendingTrackings,
});
