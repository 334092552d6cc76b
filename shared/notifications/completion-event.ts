import { z } from 'zod';
import { type TrackingRecord, trackingRecordSchema } from '../trackings/model.js';

/** The CloudEvents 1.0 `type` of a tracking's completion. */
export const COMPLETION_EVENT_TYPE = 'devicebatchstatus.tracking.completed';

/** A CloudEvents 1.0 event in structured JSON mode (what the webhook body is). */
export interface CompletionEvent {
  specversion: '1.0';
  type: typeof COMPLETION_EVENT_TYPE;
  source: string;
  subject: string;
  id: string;
  time: string;
  datacontenttype: 'application/json';
  /** The record with its summary, as `GET /api/trackings/{customerId}/{trackingId}` shows it. */
  data: Omit<TrackingRecord, 'notification'>;
}

/**
 * The completion event of a final record. Built from what the record holds and never changes
 * after it ended (id, time, outcome), so every attempt sends the same bytes but for the signature's
 * timestamp. Delivery progress (`notification`) is left out, and nothing secret is in a record.
 */
export function completionEvent(record: TrackingRecord): CompletionEvent {
  const { notification, ...data } = record;
  if (notification?.eventId === undefined || notification.createdAt === undefined) {
    throw new Error(`Tracking ${record.customerId}/${record.trackingId} has no completion event`);
  }
  return {
    specversion: '1.0',
    type: COMPLETION_EVENT_TYPE,
    source: `/api/trackings/${record.customerId}/${record.trackingId}`,
    subject: `${record.customerId}/${record.trackingId}`,
    id: notification.eventId,
    time: notification.createdAt,
    datacontenttype: 'application/json',
    data,
  };
}

/** The event as documented (OpenAPI `webhooks`); `CompletionEvent` is what the code builds. */
export const completionEventSchema = z
  .object({
    specversion: z.literal('1.0'),
    type: z.literal(COMPLETION_EVENT_TYPE),
    source: z.string().describe('`/api/trackings/{customerId}/{trackingId}`'),
    subject: z.string().describe('`{customerId}/{trackingId}`'),
    id: z.string().describe('The event id: also the `webhook-id` header, the same on every attempt'),
    time: z.iso.datetime().describe('When the tracking ended'),
    datacontenttype: z.literal('application/json'),
    data: trackingRecordSchema.omit({ notification: true }).describe('The record, with its summary'),
  })
  .describe(
    'A CloudEvents 1.0 event in structured JSON mode, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`)',
  )
  .meta({ id: 'TrackingCompletedEvent' });

/** Fails to compile when the built event and the documented one drift apart. */
export type CompletionEventInSync = [CompletionEvent] extends [z.infer<typeof completionEventSchema>]
  ? true
  : never;
