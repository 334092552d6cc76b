import {
  MAX_NOTIFY_URLS,
  type NotificationReceiver,
  type NotificationStatus,
  type TrackingRecord,
} from '../trackings/model.js';

/**
 * The pure rules of a tracking's `notification`: who receives its completion event, what one
 * delivery attempt changes, and the summary callers read. Storage and HTTP live elsewhere.
 */

/** The receiver a queue message is for: a URL the tracking registered, or NOTIFY_WEBHOOK_URL. */
export const OPERATOR_RECEIVER = 'operator';

export function receiverKey(receiver: NotificationReceiver): string {
  return receiver.url ?? OPERATOR_RECEIVER;
}

/** The tracking states that announce a completion (`cancelled` was a caller's own doing). */
export function announcesCompletion(state: TrackingRecord['state']): boolean {
  return (
    state === 'finished' || state === 'finished_with_errors' || state === 'expired' || state === 'not_found'
  );
}

/** Aggregates the receivers into what the record shows. */
export function summarize(
  status: Omit<NotificationStatus, 'state' | 'attempts' | 'deliveredAt' | 'lastError'>,
): NotificationStatus {
  const receivers = status.receivers;
  const active = receivers.filter((r) => r.state !== 'unsubscribed');
  const state = active.some((r) => r.state === 'pending')
    ? 'pending'
    : active.every((r) => r.state === 'delivered') && active.length > 0
      ? 'delivered'
      : status.eventId === undefined
        ? 'pending'
        : 'failed';
  const delivered = receivers.map((r) => r.deliveredAt).filter((t): t is string => t !== undefined);
  const lastError = receivers.find((r) => r.state !== 'delivered' && r.lastError)?.lastError;
  return withoutUndefined({
    state,
    attempts: Math.max(0, ...receivers.map((r) => r.attempts)),
    deliveredAt: state === 'delivered' ? delivered.sort().at(-1) : undefined,
    lastError: state === 'delivered' ? undefined : lastError,
    eventId: status.eventId,
    createdAt: status.createdAt,
    queuedAt: status.queuedAt,
    receivers,
  });
}

export type SubscribeResult =
  | { changed: false }
  | { changed: true; notification: NotificationStatus }
  | { tooMany: true };

/** Adds a webhook URL to a tracking that has not ended yet; a URL already there changes nothing. */
export function subscribe(current: NotificationStatus | undefined, url: string): SubscribeResult {
  const receivers = current?.receivers ?? [];
  const existing = receivers.find((r) => r.url === url);
  if (existing && existing.state !== 'unsubscribed') return { changed: false };
  const others = receivers.filter((r) => r.url !== url);
  if (others.filter((r) => r.url !== undefined).length >= MAX_NOTIFY_URLS) return { tooMany: true };
  const receiver: NotificationReceiver = { url, state: 'pending', attempts: 0 };
  return { changed: true, notification: summarize({ ...current, receivers: [...others, receiver] }) };
}

/**
 * The record that becomes final, with its one completion event: a new id, the time, and every
 * receiver (the tracking's own webhooks that have not unsubscribed, and the operator's) pending.
 * A record with no receiver gets no event.
 */
export function withCompletionEvent(
  record: TrackingRecord,
  event: { id: string; now: Date; operator: boolean },
): TrackingRecord {
  if (!announcesCompletion(record.state)) return record;
  const receivers: NotificationReceiver[] = (record.notification?.receivers ?? [])
    .filter((r) => r.url !== undefined && r.state !== 'unsubscribed')
    .map((r) => ({ url: r.url, state: 'pending', attempts: 0 }));
  if (event.operator) receivers.push({ state: 'pending', attempts: 0 });
  if (receivers.length === 0) return record;
  return {
    ...record,
    notification: summarize({ eventId: event.id, createdAt: event.now.toISOString(), receivers }),
  };
}

/** An event recorded on the record whose deliveries were not queued yet (a crash in between). */
export function awaitsQueueing(record: TrackingRecord): boolean {
  return record.notification?.eventId !== undefined && record.notification.queuedAt === undefined;
}

export function markQueued(notification: NotificationStatus, now: Date): NotificationStatus {
  return summarize({ ...notification, queuedAt: notification.queuedAt ?? now.toISOString() });
}

export type AttemptOutcome =
  | { kind: 'delivered'; at: Date }
  | { kind: 'retry'; error: string }
  | { kind: 'failed'; error: string }
  | { kind: 'unsubscribed'; error: string };

/** Records the outcome of attempt `attempt` for one receiver; attempts never go backwards. */
export function recordAttempt(
  notification: NotificationStatus,
  key: string,
  attempt: number,
  outcome: AttemptOutcome,
): NotificationStatus {
  const receivers = notification.receivers.map((receiver): NotificationReceiver => {
    if (receiverKey(receiver) !== key) return receiver;
    const attempts = Math.max(receiver.attempts, attempt);
    switch (outcome.kind) {
      case 'delivered':
        return { url: receiver.url, state: 'delivered', attempts, deliveredAt: outcome.at.toISOString() };
      case 'retry':
        return withoutUndefined({ url: receiver.url, state: 'pending', attempts, lastError: outcome.error });
      default:
        return withoutUndefined({
          url: receiver.url,
          state: outcome.kind,
          attempts,
          lastError: outcome.error,
        });
    }
  });
  return summarize({ ...notification, receivers });
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
