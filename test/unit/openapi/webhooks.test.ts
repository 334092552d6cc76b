import { describe, expect, it } from 'vitest';
import { completionEvent, completionEventSchema } from '../../../shared/notifications/completion-event.js';
import { withCompletionEvent } from '../../../shared/notifications/notification-state.js';
import { buildOpenApiDocument } from '../../../shared/openapi/document.js';

const document = buildOpenApiDocument();
const schemas = document.components.schemas as Record<string, { properties?: Record<string, unknown> }>;

describe('the OpenAPI document and completion webhooks', () => {
  it('documents notify on every registration form and notification on the record', () => {
    for (const form of [
      'RegisterTrackingByIds',
      'RegisterTrackingByLocation',
      'RegisterTrackingByStatusLink',
    ]) {
      expect(Object.keys(schemas[form]?.properties ?? {}), form).toContain('notify');
    }
    expect(Object.keys(schemas.Tracking?.properties ?? {})).toContain('notification');
    expect(schemas.NotificationStatus).toBeDefined();
  });

  it('describes the event as an OpenAPI 3.1 webhook, signed with the Standard Webhooks headers', () => {
    const post = document.webhooks?.trackingCompleted?.post;
    expect(post?.requestBody?.content['application/cloudevents+json']?.schema).toEqual({
      $ref: '#/components/schemas/TrackingCompletedEvent',
    });
    expect(post?.parameters?.map((p) => p.name)).toEqual([
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
    ]);
    expect(schemas.TrackingCompletedEvent).toBeDefined();
  });

  it('the event the code builds is what the document describes', () => {
    const record = withCompletionEvent(
      {
        customerId: '5b0c0a11-0000-4000-a000-000000000001',
        trackingId: '5b0c0a11-0000-4000-a000-000000000002',
        state: 'finished',
        registeredAt: '2026-11-26T10:00:00.000Z',
        checks: 1,
        notification: {
          state: 'pending',
          attempts: 0,
          receivers: [{ url: 'https://h.example.com/', state: 'pending', attempts: 0 }],
        },
      },
      { id: 'e1', now: new Date('2026-11-26T10:05:00.000Z'), operator: false },
    );
    const event = completionEvent(record);
    expect(completionEventSchema.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      id: 'e1',
      time: '2026-11-26T10:05:00.000Z',
      subject: `${record.customerId}/${record.trackingId}`,
    });
  });
});
