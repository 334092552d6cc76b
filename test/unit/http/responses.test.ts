import { describe, expect, it } from 'vitest';
import { maxStaleOf } from '../../../shared/http/cache-control.js';
import { lookupResponse, trackingResponse } from '../../../shared/http/responses.js';
import type { LookupResult } from '../../../shared/lookup/batch-status-lookup.js';
import type { TrackingList, TrackingRecord, TrackingWithDevices } from '../../../shared/trackings/model.js';

// The success answers' headers (docs/design.md, "Contracts"): what may be cached, for how long,
// where a lookup came from, and the upstream diagnostics a support ticket needs.

const CUSTOMER = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
const TRACKING = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const JSON_TYPE = 'application/json; charset=utf-8';
const details = { batchTrackingId: TRACKING, status: 'finished' } as LookupResult['details'];

describe('lookupResponse', () => {
  it('answers a live terminal result byte for byte, cacheable, with the upstream ids', () => {
    const rawBody = `{ "batchTrackingId": "${TRACKING}", "status": "finished" }`;
    const answer = lookupResponse({
      details,
      source: 'live',
      terminal: true,
      rawBody,
      upstream: { requestId: 'req-1', cv: 'cv.1' },
    });
    expect(answer).toEqual({
      status: 200,
      headers: {
        'Content-Type': JSON_TYPE,
        'X-Result-Source': 'live',
        'Cache-Control': 'private, max-age=300',
        'MS-RequestId': 'req-1',
        'MS-CV': 'cv.1',
      },
      body: rawBody,
    });
  });

  it('answers a stale non-terminal result as JSON, never cached, with its Age', () => {
    const answer = lookupResponse({ details, source: 'stale', terminal: false, ageSeconds: 0 });
    expect(answer).toEqual({
      status: 200,
      headers: {
        'Content-Type': JSON_TYPE,
        'X-Result-Source': 'stale',
        'Cache-Control': 'no-store',
        Age: '0',
      },
      jsonBody: details,
    });
  });
});

describe('trackingResponse', () => {
  const record: TrackingRecord = {
    customerId: CUSTOMER,
    trackingId: TRACKING,
    state: 'pending',
    registeredAt: '2026-12-01T00:00:00.000Z',
    checks: 0,
  };
  const noStore = { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store' };

  it('answers a new registration 201 with its Location, a repeated one 200 without', () => {
    expect(trackingResponse.registered({ record, created: true })).toEqual({
      status: 201,
      headers: { ...noStore, Location: `/api/trackings/${CUSTOMER}/${TRACKING}` },
      jsonBody: record,
    });
    expect(trackingResponse.registered({ record, created: false })).toEqual({
      status: 200,
      headers: noStore,
      jsonBody: record,
    });
  });

  it('lets a terminal record be cached briefly, never one still in progress', () => {
    const open = { ...record, devices: [] } as unknown as TrackingWithDevices;
    const done = { ...open, state: 'finished_with_errors' } as TrackingWithDevices;
    expect(trackingResponse.record(open).headers).toEqual(noStore);
    expect(trackingResponse.record(done)).toEqual({
      status: 200,
      headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'private, max-age=300' },
      jsonBody: done,
    });
  });

  it('answers a list as no-store JSON and a cancellation as 204', () => {
    const list = { items: [] } as unknown as TrackingList;
    expect(trackingResponse.list(list)).toEqual({ status: 200, headers: noStore, jsonBody: list });
    expect(trackingResponse.cancelled()).toEqual({ status: 204, headers: { 'Cache-Control': 'no-store' } });
  });
});

describe('maxStaleOf', () => {
  it('reads max-stale with or without a value, among other directives, in any case', () => {
    expect(maxStaleOf(undefined)).toBeUndefined();
    expect(maxStaleOf('')).toBeUndefined();
    expect(maxStaleOf('no-cache')).toBeUndefined();
    expect(maxStaleOf('no-cache, Max-Stale')).toBe(Number.POSITIVE_INFINITY);
    expect(maxStaleOf('max-age=0, max-stale=120')).toBe(120);
    expect(maxStaleOf(' MAX-STALE = "45" ')).toBe(45);
  });

  it('refuses values that are not a whole number of seconds, quoted or not', () => {
    for (const value of ['1.5', '12x', 'x12', '1=2', '1"2"', '"4"5', '"4', '']) {
      expect(maxStaleOf(`max-stale=${value}`), value).toBeUndefined();
    }
  });
});
