import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  registerTrackingBodySchema,
  trackingListSchema,
  trackingRecordSchema,
  trackingWithDevicesSchema,
} from '../../../shared/trackings/model.js';
import { normalizeUpstreamTime } from '../../../shared/trackings/tracking-entities.js';

describe('tracking schemas', () => {
  it('turn into JSON Schema for the OpenAPI document', () => {
    for (const schema of [
      trackingRecordSchema,
      trackingWithDevicesSchema,
      trackingListSchema,
      registerTrackingBodySchema,
    ]) {
      const json = z.toJSONSchema(schema, { io: 'input' });
      expect(json).toBeTypeOf('object');
    }
    const json = z.toJSONSchema(trackingRecordSchema) as {
      $ref?: string;
      $defs?: Record<string, { required?: string[]; properties?: Record<string, unknown> }>;
    };
    expect(json.$ref).toBe('#/$defs/Tracking');
    const record = json.$defs?.Tracking ?? {};
    expect(record.required).toEqual(['customerId', 'trackingId', 'state', 'registeredAt', 'checks']);
    expect(Object.keys(record.properties ?? {})).toEqual([
      'customerId',
      'trackingId',
      'label',
      'state',
      'upstreamStatus',
      'registeredAt',
      'lastCheckedAt',
      'nextCheckAt',
      'checks',
      'startedTime',
      'completedTime',
      'lastError',
      'summary',
      'notification',
    ]);
  });

  it('refuses records with unknown states', () => {
    expect(
      trackingRecordSchema.safeParse({
        customerId: '47021739-3426-40bf-9601-61b4b6d7c793',
        trackingId: '0127ed8e-ff72-4983-a3d8-e8d8bd378932',
        state: 'done',
        registeredAt: '2025-01-01T00:00:00.000Z',
        checks: 0,
      }).success,
    ).toBe(false);
  });
});

describe('normalizeUpstreamTime', () => {
  it('reads zone-less upstream times as UTC and drops .NET empty dates', () => {
    expect(normalizeUpstreamTime('2017-07-25T10:00:00')).toBe('2017-07-25T10:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00+02:00')).toBe('2017-07-25T08:00:00.000Z');
    expect(normalizeUpstreamTime('0001-01-01T00:00:00')).toBeUndefined();
    expect(normalizeUpstreamTime('yesterday')).toBeUndefined();
    expect(normalizeUpstreamTime(undefined)).toBeUndefined();
  });
});
