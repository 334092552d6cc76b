import { PartnerCenterError } from '../partner-center/errors.js';
import type {
  BatchStatusReader,
  BatchStatusResponse,
  GetBatchStatusOptions,
} from '../partner-center/model.js';
import type { PartnerBudget } from './partner-budget.js';

/**
 * The sweep's view of Partner Center: each call waits for its turn in the shared budget, goes as
 * priority `sweep`, and a 2xx lets the pace grow. A turn that would come after the run's deadline
 * fails at once as "throttled" with the time to come back, which the sweep answers as it answers a
 * 429: it pauses, reschedules the tracking and stops claiming.
 */
export function pacedSweepReader(
  reader: BatchStatusReader,
  budget: PartnerBudget,
  deadlineMs: number,
  now: () => number = Date.now,
): BatchStatusReader {
  return {
    async getBatchStatus(
      customerId,
      trackingId,
      options: GetBatchStatusOptions = {},
    ): Promise<BatchStatusResponse> {
      if (!(await budget.nextTurn(deadlineMs, options.abortSignal))) {
        if (options.abortSignal?.aborted) throw options.abortSignal.reason;
        // Back after the pause, or after this run when its pace has no turn left for the call.
        const retryAfterMs = Math.max(budget.pausedUntil, deadlineMs) - now();
        throw new PartnerCenterError(
          'The sweep is holding back: Partner Center throttles the partner, or its pace leaves no turn before the run ends',
          { failure: 'throttled', retryAfterMs, correlationId: options.correlationId },
        );
      }
      const response = await reader.getBatchStatus(customerId, trackingId, { ...options, priority: 'sweep' });
      budget.sweepSucceeded();
      return response;
    },
  };
}
