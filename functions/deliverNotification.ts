import { app, type InvocationContext } from '@azure/functions';
import { notifyQueueBinding } from '../shared/config/notify-binding.js';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/**
 * One delivery attempt of a completion webhook, from the NOTIFY_QUEUE_NAME queue. Retries are
 * the domain's (re-queued with growing delays); a throw here (storage or Key Vault unreachable)
 * leaves the message to the host's own retry and, after maxDequeueCount, its poison queue.
 */
export async function deliverNotification(message: unknown, context: InvocationContext): Promise<void> {
  const { correlatedInvocation, services } = await domain();
  const invocation = correlatedInvocation(context);
  const { telemetry } = services();
  try {
    await telemetry.runInvocation(invocation, async () => {
      const result = await services().notifications.delivery.deliver(message);
      invocation.log.info(
        result.outcome === 'skipped'
          ? `Notification skipped: ${result.reason}`
          : `Notification attempt ${result.attempt}: ${result.outcome}${result.delayMs === undefined ? '' : `, next in ${Math.round(result.delayMs / 1000)} s`}`,
      );
    });
  } finally {
    await telemetry.flush();
  }
}

app.storageQueue('deliverNotification', {
  ...notifyQueueBinding(),
  handler: deliverNotification,
});
