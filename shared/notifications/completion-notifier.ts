import { randomUUID } from 'node:crypto';
import type { TrackingRecord } from '../trackings/model.js';
import type { CompletionNotifier } from '../trackings/tracking-records.js';
import type { DeliveryQueue } from './delivery-queue.js';
import { receiverKey, withCompletionEvent } from './notification-state.js';

export interface QueueingNotifierOptions {
  queue: DeliveryQueue;
  /** NOTIFY_WEBHOOK_URL is set: every completion goes to the operator's receiver too. */
  operatorReceiver: boolean;
  clock?: () => Date;
  newEventId?: () => string;
  /** Told when queueing failed (the tracking stays due, so a later sweep queues it). */
  onQueueFailure?: (record: TrackingRecord, error: unknown) => void;
}

/**
 * The store's completion hook: one event id per terminal transition, recorded with it, and one
 * queue message per receiver once that write stood. The sweep and the lookup only ever queue:
 * no receiver is contacted on their time.
 */
export class QueueingNotifier implements CompletionNotifier {
  private readonly clock: () => Date;
  private readonly newEventId: () => string;

  constructor(private readonly options: QueueingNotifierOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.newEventId = options.newEventId ?? randomUUID;
  }

  attach(record: TrackingRecord, now: Date): TrackingRecord {
    return withCompletionEvent(record, {
      id: this.newEventId(),
      now,
      operator: this.options.operatorReceiver,
    });
  }

  async enqueue(record: TrackingRecord): Promise<Date | undefined> {
    const notification = record.notification;
    if (notification?.eventId === undefined) return this.clock();
    try {
      await Promise.all(
        notification.receivers
          .filter((receiver) => receiver.state === 'pending')
          .map((receiver) =>
            this.options.queue.send({
              v: 1,
              eventId: notification.eventId as string,
              customerId: record.customerId,
              trackingId: record.trackingId,
              receiver: receiverKey(receiver),
              attempt: receiver.attempts + 1,
            }),
          ),
      );
      return this.clock();
    } catch (error) {
      this.options.onQueueFailure?.(record, error);
      return undefined;
    }
  }
}
