import type { LookupResult } from '../lookup/batch-status-lookup.js';
import { isTerminalBatchStatus } from '../partner-center/model.js';
import type { TrackingList, TrackingRecord, TrackingWithDevices } from '../trackings/model.js';
import type { HttpResult } from './problem.js';

/** The HTTP answer for a lookup: the upstream body unchanged, plus where it came from. */
export function lookupResponse(result: LookupResult): HttpResult {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'X-Result-Source': result.source,
    // Terminal answers never change; anything else may change on the next poll.
    'Cache-Control': result.terminal ? 'private, max-age=300' : 'no-store',
  };
  if (result.upstream?.requestId) headers['MS-RequestId'] = result.upstream.requestId;
  if (result.upstream?.cv) headers['MS-CV'] = result.upstream.cv;
  return result.rawBody
    ? { status: 200, headers, body: result.rawBody }
    : { status: 200, headers, jsonBody: result.details };
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };

function recordLocation(record: TrackingRecord): string {
  return `/api/trackings/${record.customerId}/${record.trackingId}`;
}

/** HTTP answers of the tracking API (the shapes of docs/design.md, "Contracts"). */
export const trackingResponse = {
  /** 201 with a Location when new; 200 with the existing record when already registered. */
  registered({ record, created }: { record: TrackingRecord; created: boolean }): HttpResult {
    return {
      status: created ? 201 : 200,
      headers: created ? { ...JSON_HEADERS, Location: recordLocation(record) } : JSON_HEADERS,
      jsonBody: record,
    };
  },
  record(record: TrackingWithDevices): HttpResult {
    // A terminal record never changes again (until it is deleted): short private caching is safe.
    const cache = isTerminalBatchStatus(record.state) ? { 'Cache-Control': 'private, max-age=300' } : {};
    return { status: 200, headers: { ...JSON_HEADERS, ...cache }, jsonBody: record };
  },
  list(list: TrackingList): HttpResult {
    return { status: 200, headers: JSON_HEADERS, jsonBody: list };
  },
  cancelled(): HttpResult {
    return { status: 204, headers: { 'Cache-Control': 'no-store' } };
  },
};
