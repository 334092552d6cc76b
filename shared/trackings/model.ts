import { z } from 'zod';
import { deviceUploadDetailsSchema, GUID_PATTERN, LOWER_CASE_GUID_PATTERN } from '../partner-center/model.js';

/**
 * The public shape of a tracking (docs/design.md, "Contracts"). These schemas are the single
 * description of the API's JSON: the HTTP adapter answers with them and the OpenAPI document is
 * generated from them (`z.toJSONSchema`), so they are named, exported and described.
 */

export const TRACKING_STATES = [
  'pending',
  'finished',
  'finished_with_errors',
  'expired',
  'not_found',
  'cancelled',
] as const;
export type TrackingState = (typeof TRACKING_STATES)[number];

export const MAX_LABEL_LENGTH = 200;
/** Longest Location / status link accepted; a real one is about 110 characters. */
export const MAX_LOCATION_LENGTH = 2048;
export const DEFAULT_LIST_TOP = 50;
export const MAX_LIST_TOP = 200;

const isoTime = z.iso.datetime().describe('ISO 8601 UTC time');
const guid = z.string().regex(LOWER_CASE_GUID_PATTERN).describe('GUID, lower case');

export const trackingStateSchema = z
  .enum(TRACKING_STATES)
  .describe(
    '`pending` until Partner Center reports a terminal batch status; then exactly that status (`finished`, `finished_with_errors`). ' +
      '`expired`: still not terminal after the maximum tracking age. `not_found`: Partner Center kept answering 404 past the grace period. ' +
      '`cancelled`: tracking stopped by a caller.',
  )
  .meta({ id: 'TrackingState' });

export const deviceErrorCountSchema = z
  .object({
    code: z
      .string()
      .describe(
        'The device error code as Partner Center reported it (for example `808`), or its name when no number is known',
      ),
    name: z.string().describe('The code name (what Partner Center puts in `errorDescription`)'),
    count: z.number().int().nonnegative().describe('How many devices of the batch have this error'),
    remedy: z.string().describe('What a person can do about it'),
  })
  .meta({ id: 'DeviceErrorCount' });

export const batchSummarySchema = z
  .object({
    devices: z.number().int().nonnegative().describe('Number of devices in the batch'),
    byStatus: z
      .record(z.string(), z.number().int().nonnegative())
      .describe('Device count per device status, as Partner Center reported the status'),
    errors: z
      .array(deviceErrorCountSchema)
      .describe('Device counts per error code, most frequent first; empty when every device succeeded'),
  })
  .describe(
    'Device-level outcome of the batch. A `finished` batch may still have failed devices: read `errors`.',
  )
  .meta({ id: 'BatchSummary' });

export const trackingErrorSchema = z
  .object({
    at: isoTime,
    message: z.string(),
    status: z.number().int().optional().describe('Upstream HTTP status, when Partner Center answered'),
    code: z.string().optional().describe('Upstream error code, when Partner Center sent one'),
    failure: z
      .string()
      .optional()
      .describe('Kind of failure: http, throttled, timeout, network, invalid_response, credential, internal'),
    requestId: z.string().optional().describe('Upstream MS-RequestId, for a Partner Center support ticket'),
  })
  .describe('The last failed check; cleared by the next successful one')
  .meta({ id: 'TrackingError' });

export const NOTIFICATION_STATES = ['pending', 'delivered', 'failed'] as const;
export const RECEIVER_STATES = ['pending', 'delivered', 'failed', 'unsubscribed'] as const;
/** Webhook URLs one tracking may have (re-registering with a new URL adds one). */
export const MAX_NOTIFY_URLS = 5;

export const notificationReceiverSchema = z
  .object({
    url: z
      .string()
      .optional()
      .describe("A webhook this tracking registered; absent for the service's own NOTIFY_WEBHOOK_URL"),
    state: z
      .enum(RECEIVER_STATES)
      .describe('`unsubscribed`: the receiver answered 410 Gone and is not called again'),
    attempts: z.number().int().nonnegative(),
    deliveredAt: isoTime.optional(),
    lastError: z.string().optional().describe('Why the last attempt failed (status or network error)'),
  })
  .meta({ id: 'NotificationReceiver' });

export const notificationStatusSchema = z
  .object({
    state: z
      .enum(NOTIFICATION_STATES)
      .describe(
        '`pending` until every receiver got the event or gave up; then `delivered` when all got it, else `failed`',
      ),
    attempts: z
      .number()
      .int()
      .nonnegative()
      .describe('Delivery attempts so far (the most any receiver took)'),
    deliveredAt: isoTime.optional().describe('When the last receiver got the event'),
    lastError: z.string().optional(),
    eventId: z
      .string()
      .optional()
      .describe('The completion event id (`webhook-id`), once the tracking ended; the same on every attempt'),
    createdAt: isoTime.optional().describe("The event's `time`: when the tracking ended"),
    queuedAt: isoTime.optional().describe('When the deliveries were queued'),
    receivers: z.array(notificationReceiverSchema),
  })
  .describe('Where the completion webhook stands (present when the tracking has a receiver)')
  .meta({ id: 'NotificationStatus' });
export type NotificationStatus = z.infer<typeof notificationStatusSchema>;
export type NotificationReceiver = z.infer<typeof notificationReceiverSchema>;

export const trackingRecordSchema = z
  .object({
    customerId: guid.describe("The customer's Microsoft Entra tenant id (lower case)"),
    trackingId: guid.describe("The batch tracking id from the upload's Location header (lower case)"),
    label: z.string().max(MAX_LABEL_LENGTH).optional().describe('Free text given at registration'),
    state: trackingStateSchema,
    upstreamStatus: z.string().optional().describe('The last batch status Partner Center reported, raw'),
    registeredAt: isoTime,
    lastCheckedAt: isoTime.optional(),
    nextCheckAt: isoTime.optional().describe('When the sweep checks next; absent once the state is final'),
    checks: z.number().int().nonnegative().describe('How many times Partner Center was asked'),
    startedTime: isoTime.optional().describe("The batch's start time as Partner Center reported it"),
    completedTime: isoTime.optional().describe("The batch's completion time as Partner Center reported it"),
    lastError: trackingErrorSchema.optional(),
    summary: batchSummarySchema.optional().describe('Present once the batch reached a terminal status'),
    notification: notificationStatusSchema.optional(),
  })
  .meta({ id: 'Tracking' });
export type TrackingRecord = z.infer<typeof trackingRecordSchema>;
export type BatchSummary = z.infer<typeof batchSummarySchema>;
export type DeviceErrorCount = z.infer<typeof deviceErrorCountSchema>;
export type TrackingError = z.infer<typeof trackingErrorSchema>;

export const trackingWithDevicesSchema = trackingRecordSchema
  .extend({
    devicesStatus: z
      .array(deviceUploadDetailsSchema)
      .optional()
      .describe(
        'The full per-device list from the stored result (`?include=devices`); absent until the batch is terminal',
      ),
  })
  .meta({ id: 'TrackingWithDevices' });
export type TrackingWithDevices = z.infer<typeof trackingWithDevicesSchema>;

export const trackingListSchema = z
  .object({
    items: z.array(trackingRecordSchema).describe('Newest registration first'),
    continuationToken: z
      .string()
      .optional()
      .describe('Opaque; pass it back as `continuationToken` for the next page'),
  })
  .meta({ id: 'TrackingList' });
export type TrackingList = z.infer<typeof trackingListSchema>;

const labelField = z
  .string()
  .max(MAX_LABEL_LENGTH)
  .optional()
  .describe('Free text kept with the tracking (for example the upload job name)');
const locationField = z
  .string()
  .max(MAX_LOCATION_LENGTH)
  .describe(
    "The upload call's Location value: `/customers/{customerId}/batchJobStatus/{trackingId}`, relative or absolute, with or without `/v1`, any case",
  );
const notifyField = z
  .object({
    url: z
      .string()
      .max(2048)
      .describe(
        'https URL without credentials, on a host allowed by NOTIFY_ALLOWED_HOSTS; it receives one signed CloudEvent when the tracking ends',
      ),
  })
  .optional()
  .describe('Ask for a webhook when the tracking ends; registering again with another URL adds it')
  .meta({ id: 'NotifyRequest' });
const statusLinkSchema = z
  .union([locationField, z.object({ uri: locationField, method: z.string().optional() }).loose()])
  .meta({ id: 'StatusLink' });

export const registerByIdsSchema = z
  .object({
    customerId: z.string().describe('Customer tenant id (GUID)'),
    trackingId: z.string().describe('Batch tracking id (GUID)'),
    label: labelField,
    notify: notifyField,
  })
  .meta({ id: 'RegisterTrackingByIds' });

export const registerByLocationSchema = z
  .object({ location: locationField, label: labelField, notify: notifyField })
  .meta({ id: 'RegisterTrackingByLocation' });

/**
 * The newer REST reference says an upload may answer 200 with a status link in its body instead of
 * 202 + Location; its shape is not documented. Accepted: `statusLink` as a string or `{ uri }`, or
 * the upload's response body as-is when it follows Partner Center's `links: { <name>: { uri } }`
 * convention (the first link that points at a batchJobStatus resource wins).
 */
export const registerByStatusLinkSchema = z
  .object({
    statusLink: statusLinkSchema.optional(),
    links: z
      .record(z.string(), statusLinkSchema)
      .optional()
      .describe('Partner Center resource links; one must point at batchJobStatus'),
    label: labelField,
    notify: notifyField,
  })
  .meta({ id: 'RegisterTrackingByStatusLink' });

export const registerTrackingBodySchema = z
  .union([registerByIdsSchema, registerByLocationSchema, registerByStatusLinkSchema])
  .describe(
    'Which upload to track: the two ids, the Location value of the upload call, or a body that carries the status link',
  )
  .meta({ id: 'RegisterTrackingBody' });

/** Longest continuation token accepted; the ones this service issues are far shorter. */
export const MAX_CONTINUATION_TOKEN_LENGTH = 1024;

/** The list query, exactly as validated by TrackingService.list (and documented from here). */
export const listTrackingsQuerySchema = z
  .object({
    state: z
      .enum(TRACKING_STATES, { error: `must be one of ${TRACKING_STATES.join(', ')}` })
      .optional()
      .describe('Only trackings in this state'),
    customerId: z
      .string()
      .regex(GUID_PATTERN, 'must be a GUID')
      .transform((v) => v.toLowerCase())
      .optional()
      .describe('Only this customer (GUID)'),
    top: z
      .string()
      .regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_LIST_TOP}`)
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(1, `must be a whole number from 1 to ${MAX_LIST_TOP}`)
          .max(MAX_LIST_TOP, `must be a whole number from 1 to ${MAX_LIST_TOP}`),
      )
      .optional()
      .describe(`Page size, default ${DEFAULT_LIST_TOP}, at most ${MAX_LIST_TOP}`),
    continuationToken: z
      .string()
      .max(MAX_CONTINUATION_TOKEN_LENGTH, 'is not a token this service issued')
      .optional()
      .describe('From the previous page'),
  })
  .meta({ id: 'ListTrackingsQuery' });

/** One thing wrong with a request, for a 400 problem+json `errors` list. */
export interface ValidationProblem {
  /** Where: a body field (`location`), a query parameter (`top`) or a route parameter (`customerId`). */
  field: string;
  message: string;
}
