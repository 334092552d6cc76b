import type { DeliveryObserver } from '../notifications/delivery.js';
import type { Telemetry } from './telemetry.js';

export const NotificationTelemetryNames = {
  delivered: 'NotificationDelivered',
  failed: 'NotificationFailed',
  /** From the terminal write (the event's `time`) to the receiver's 2xx. */
  latency: 'NotificationDeliveryLatencyMs',
} as const;

/**
 * Telemetry of completion webhooks. Receivers are named only as `tracking` or `operator`: a
 * webhook URL may carry a token in its query, so no URL is ever reported.
 */
export function notificationTelemetry(telemetry: Telemetry): DeliveryObserver {
  const receiver = (operator: boolean) => (operator ? 'operator' : 'tracking');
  return {
    delivered: ({ eventId, attempts, latencyMs, operator }) => {
      telemetry.trackEvent(
        NotificationTelemetryNames.delivered,
        { eventId, receiver: receiver(operator) },
        { attempts, latencyMs },
      );
      telemetry.trackMetric(NotificationTelemetryNames.latency, latencyMs, { receiver: receiver(operator) });
    },
    failed: ({ eventId, attempts, reason, operator }) => {
      telemetry.trackEvent(
        NotificationTelemetryNames.failed,
        { eventId, receiver: receiver(operator), reason },
        { attempts },
      );
    },
  };
}
