import { completionEventSchema } from '../notifications/completion-event.js';
import type { JsonSchema } from './json-schema.js';
import type { PathItemObject } from './objects.js';

/**
 * OpenAPI 3.1 `webhooks`: the completion event this service POSTs to a tracking's `notify.url`
 * and to NOTIFY_WEBHOOK_URL. `ref` names the component schema of the event.
 */
export function completionWebhooks(
  ref: (schema: typeof completionEventSchema) => JsonSchema,
): Record<string, PathItemObject> {
  const signatureHeaders = [
    ['webhook-id', 'The event id; the same on every attempt (drop repeats by it)'],
    ['webhook-timestamp', 'Unix seconds of this attempt'],
    ['webhook-signature', '`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the shared secret'],
  ].map(([name, description]) => ({
    name: name as string,
    in: 'header' as const,
    required: true,
    description: description as string,
    schema: { type: 'string' },
  }));
  return {
    trackingCompleted: {
      post: {
        operationId: 'trackingCompleted',
        summary: 'A tracking ended: finished, finished_with_errors, expired or not_found',
        description:
          'Sent once per completion, at least once per receiver, through a Storage Queue. A 2xx within 10 s ' +
          'is delivered; anything else (redirects are not followed) is retried with growing delays up to ' +
          'NOTIFY_MAX_ATTEMPTS; 410 Gone unsubscribes the webhook. Verify the signature with a Standard ' +
          'Webhooks library before trusting the body.',
        tags: ['Trackings'],
        parameters: signatureHeaders,
        requestBody: {
          required: true,
          content: { 'application/cloudevents+json': { schema: ref(completionEventSchema) } },
        },
        responses: {
          '200': { description: 'Received (any 2xx)' },
          '410': { description: 'Gone: this webhook is unsubscribed and not called again' },
        },
        security: [],
      },
    },
  };
}
