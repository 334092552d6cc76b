/** The delivery queue's default name; `loadSettings` uses the same value. */
export const DEFAULT_NOTIFY_QUEUE_NAME = 'tracking-notifications';

/**
 * The `deliverNotification` queue binding. The Functions host resolves `%NOTIFY_QUEUE_NAME%` and
 * the `connection` setting itself and knows no app defaults, so both name only settings that exist:
 * the default queue name as a literal when NOTIFY_QUEUE_NAME is unset, and AzureWebJobsStorage when
 * TRACKING_STORAGE (or its identity-based `__` form) is not configured. Read at registration: it
 * never throws and imports nothing heavy.
 */
export function notifyQueueBinding(env: Readonly<Record<string, string | undefined>> = process.env): {
  queueName: string;
  connection: string;
} {
  const tracking = Object.entries(env).some(
    ([name, value]) =>
      (name === 'TRACKING_STORAGE' || name.startsWith('TRACKING_STORAGE__')) && value?.trim(),
  );
  return {
    queueName: env.NOTIFY_QUEUE_NAME?.trim() ? '%NOTIFY_QUEUE_NAME%' : DEFAULT_NOTIFY_QUEUE_NAME,
    connection: tracking ? 'TRACKING_STORAGE' : 'AzureWebJobsStorage',
  };
}
