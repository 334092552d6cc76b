import type { NotifySettings } from '../config/notify-settings.js';
import type { BatchKey } from '../partner-center/model.js';
import type { NotificationStatus, TrackingRecord } from '../trackings/model.js';
import { completionEvent } from './completion-event.js';
import { type DeliveryMessage, type DeliveryQueue, deliveryMessageSchema } from './delivery-queue.js';
import { type AttemptOutcome, OPERATOR_RECEIVER, receiverKey, recordAttempt } from './notification-state.js';
import { type SigningSecretSource, signedHeaders } from './signing.js';
import type { WebhookAnswer, WebhookSender } from './webhook-sender.js';
import { parseWebhookUrl } from './webhook-url.js';

/** The part of the tracking store a delivery reads and writes. */
export interface DeliveryRecords {
  get(key: BatchKey): Promise<TrackingRecord | undefined>;
  updateNotification(
    key: BatchKey,
    change: (record: TrackingRecord) => NotificationStatus | undefined,
  ): Promise<TrackingRecord | undefined>;
}

/** Who hears how deliveries end (telemetry). Called after the record says so. */
export interface DeliveryObserver {
  delivered(info: { eventId: string; attempts: number; latencyMs: number; operator: boolean }): void;
  failed(info: { eventId: string; attempts: number; reason: string; operator: boolean }): void;
}

export type DeliveryResult =
  | { outcome: AttemptOutcome['kind']; attempt: number; delayMs?: number }
  | { outcome: 'skipped'; reason: string };

export interface NotificationDeliveryOptions {
  records: DeliveryRecords;
  queue: DeliveryQueue;
  sender: WebhookSender;
  secrets: SigningSecretSource;
  settings: Pick<NotifySettings, 'allowedHosts' | 'webhookUrl' | 'maxAttempts' | 'retryInitialMs'>;
  clock?: () => Date;
  /** In [0, 1): the jitter of retry delays. */
  random?: () => number;
  observer?: DeliveryObserver;
}

/**
 * One attempt of one completion event to one receiver, run by the `deliverNotification` queue
 * trigger. A 2xx is delivered; a 410 Gone unsubscribes that webhook; anything else is tried again
 * (a new message, invisible for a growing, jittered delay, with the same `webhook-id`) until
 * NOTIFY_MAX_ATTEMPTS, then `failed` with the message kept in the poison queue. Each next step is
 * queued before the record is updated, so a crash at any point repeats an attempt at worst and
 * never strands a delivery; an attempt the record already counts is a duplicate and is dropped.
 */
export class NotificationDelivery {
  private readonly options: NotificationDeliveryOptions;
  private readonly clock: () => Date;
  private readonly random: () => number;

  constructor(options: NotificationDeliveryOptions) {
    this.options = options;
    this.clock = options.clock ?? (() => new Date());
    this.random = options.random ?? Math.random;
  }

  async deliver(input: unknown): Promise<DeliveryResult> {
    const parsed = deliveryMessageSchema.safeParse(input);
    if (!parsed.success) return { outcome: 'skipped', reason: 'not a delivery message' };
    const message = parsed.data;
    const key = { customerId: message.customerId, trackingId: message.trackingId };
    const record = await this.options.records.get(key);
    const receiver = record?.notification?.receivers.find((r) => receiverKey(r) === message.receiver);
    if (!record || record.notification?.eventId !== message.eventId || !receiver) {
      return { outcome: 'skipped', reason: 'the event is no longer on the record' };
    }
    if (receiver.state !== 'pending') return { outcome: 'skipped', reason: `already ${receiver.state}` };
    if (message.attempt <= receiver.attempts) return { outcome: 'skipped', reason: 'a repeated attempt' };

    const outcome = await this.attempt(record, message);
    const operator = message.receiver === OPERATOR_RECEIVER;
    let delayMs: number | undefined;
    if (outcome.kind === 'retry') {
      delayMs = this.retryDelayMs(message.attempt);
      await this.options.queue.send({ ...message, attempt: message.attempt + 1 }, delayMs);
    } else if (outcome.kind === 'failed') {
      await this.options.queue.sendToPoison(message);
    }
    await this.options.records.updateNotification(key, (current) =>
      current.notification?.eventId === message.eventId
        ? recordAttempt(current.notification, message.receiver, message.attempt, outcome)
        : undefined,
    );
    const eventId = message.eventId;
    if (outcome.kind === 'delivered') {
      const latencyMs = outcome.at.getTime() - Date.parse(record.notification.createdAt ?? '');
      this.options.observer?.delivered({ eventId, attempts: message.attempt, latencyMs, operator });
    } else if (outcome.kind !== 'retry') {
      this.options.observer?.failed({ eventId, attempts: message.attempt, reason: outcome.error, operator });
    }
    return delayMs === undefined
      ? { outcome: outcome.kind, attempt: message.attempt }
      : { outcome: outcome.kind, attempt: message.attempt, delayMs };
  }

  private async attempt(record: TrackingRecord, message: DeliveryMessage): Promise<AttemptOutcome> {
    const { settings } = this.options;
    const operator = message.receiver === OPERATOR_RECEIVER;
    // Checked again at every attempt: a host taken off the list is never contacted again.
    const target = operator
      ? settings.webhookUrl
        ? parseWebhookUrl(settings.webhookUrl)
        : { ok: false as const, reason: 'NOTIFY_WEBHOOK_URL is no longer set' }
      : parseWebhookUrl(message.receiver, settings.allowedHosts);
    if (!target.ok) return { kind: 'failed', error: `not sent: the URL ${target.reason}` };

    const body = JSON.stringify(completionEvent(record));
    const now = this.clock();
    const headers = await signedHeaders(this.options.secrets, message.eventId, body, now);
    const answer = await this.options.sender.post(target.url, body, headers);
    if (answer.kind === 'answered' && answer.status >= 200 && answer.status < 300) {
      return { kind: 'delivered', at: this.clock() };
    }
    const error = describeAnswer(answer);
    if (answer.kind === 'answered' && answer.status === 410) {
      // The operator's receiver is a setting, not a subscription: it cannot be unsubscribed.
      return operator ? { kind: 'failed', error } : { kind: 'unsubscribed', error };
    }
    return message.attempt >= settings.maxAttempts ? { kind: 'failed', error } : { kind: 'retry', error };
  }

  /** NOTIFY_RETRY_INITIAL_SECONDS doubling per attempt, ±25 % jitter (each step still longer than the last). */
  private retryDelayMs(attempt: number): number {
    const base = this.options.settings.retryInitialMs * 2 ** Math.min(attempt - 1, 20);
    const jitter = 0.75 + 0.5 * Math.min(Math.max(this.random(), 0), 1);
    return Math.round(base * jitter);
  }
}

function describeAnswer(answer: WebhookAnswer): string {
  if (answer.kind === 'unreachable') return `unreachable: ${answer.error}`.slice(0, 200);
  if (answer.status >= 300 && answer.status < 400)
    return `answered ${answer.status} (redirects are not followed)`;
  return `answered ${answer.status}`;
}
