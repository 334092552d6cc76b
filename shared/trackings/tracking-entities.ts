import { z } from 'zod';
import { withoutUndefined } from '../objects/without-undefined.js';
import type { BatchKey } from '../partner-center/model.js';
import {
  batchSummarySchema,
  notificationStatusSchema,
  TRACKING_STATES,
  type TrackingRecord,
  trackingErrorSchema,
} from './model.js';

/**
 * How trackings are laid out in Table storage. Three tables (prefix from TRACKING_TABLE_PREFIX):
 *
 * - `{prefix}Trackings`: the record, the source of truth. PartitionKey = customerId, RowKey = trackingId.
 * - `{prefix}TrackingsDue`: the due index, hints only. One partition `due`; RowKey =
 *   `{dueMs, 15 digits}_{customerId}_{trackingId}`, so "everything due by now" is one range query
 *   that reads due entries only, oldest first, however large the history is. Final trackings have
 *   no entry.
 * - `{prefix}TrackingsByTime`: the listing index, hints only. Partitions `all` and `c_{customerId}`;
 *   RowKey = `{(maxMs - registeredMs), 15 digits}_{customerId}_{trackingId}` (newest first), with a
 *   `state` hint for server-side filtering.
 */
export function trackingTableNames(prefix: string): { trackings: string; due: string; list: string } {
  return { trackings: `${prefix}Trackings`, due: `${prefix}TrackingsDue`, list: `${prefix}TrackingsByTime` };
}

export const DUE_PARTITION = 'due';
export const ALL_PARTITION = 'all';
export function customerPartition(customerId: string): string {
  return `c_${customerId}`;
}

const TIME_DIGITS = 15;
const MAX_TIME_MS = 10 ** TIME_DIGITS - 1;
const KEYED_ROW = /^(\d{15})_([0-9a-f-]{36})_([0-9a-f-]{36})$/;

function padTime(ms: number): string {
  return String(Math.max(0, Math.min(MAX_TIME_MS, Math.floor(ms)))).padStart(TIME_DIGITS, '0');
}

export function dueRowKey(key: BatchKey, dueMs: number): string {
  return `${padTime(dueMs)}_${key.customerId}_${key.trackingId}`;
}

/** The exclusive upper bound of "due by nowMs" in the due index. */
export function dueUpperBound(nowMs: number): string {
  return padTime(nowMs + 1);
}

export function listRowKey(key: BatchKey, registeredMs: number): string {
  return `${padTime(MAX_TIME_MS - registeredMs)}_${key.customerId}_${key.trackingId}`;
}

export function isListRowKey(value: string): boolean {
  return KEYED_ROW.test(value);
}

export interface DueEntry {
  rowKey: string;
  dueMs: number;
  key: BatchKey;
}

export function parseDueRowKey(rowKey: string): DueEntry | undefined {
  const match = KEYED_ROW.exec(rowKey);
  if (!match) return undefined;
  return {
    rowKey,
    dueMs: Number(match[1]),
    key: { customerId: match[2] as string, trackingId: match[3] as string },
  };
}

/** What the store keeps beyond the public record (never shown to callers). */
export interface StoredTracking {
  record: TrackingRecord;
  etag: string;
  /** Blob holding the full terminal result. */
  resultBlob?: string;
  /** First upstream 404 of the current run of 404s; cleared by any other answer. */
  firstNotFoundAt?: string;
  /** When a caller cancelled it (for support; the public record only says `cancelled`). */
  cancelledAt?: string;
}

export type RecordEntity = {
  partitionKey: string;
  rowKey: string;
} & Record<string, string | number>;

/** Builds the Trackings-table entity; JSON for nested values, ISO strings for times, no undefined. */
export function toRecordEntity(stored: Omit<StoredTracking, 'etag'>): RecordEntity {
  const { record } = stored;
  const entity: RecordEntity = {
    partitionKey: record.customerId,
    rowKey: record.trackingId,
    v: 1,
    state: record.state,
    registeredAt: record.registeredAt,
    checks: record.checks,
  };
  const optional: Record<string, string | undefined> = {
    label: record.label,
    upstreamStatus: record.upstreamStatus,
    lastCheckedAt: record.lastCheckedAt,
    nextCheckAt: record.nextCheckAt,
    startedTime: record.startedTime,
    completedTime: record.completedTime,
    lastError: record.lastError && JSON.stringify(record.lastError),
    summary: record.summary && JSON.stringify(record.summary),
    notification: record.notification && JSON.stringify(record.notification),
    resultBlob: stored.resultBlob,
    firstNotFoundAt: stored.firstNotFoundAt,
    cancelledAt: stored.cancelledAt,
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value !== undefined) entity[name] = value;
  }
  return entity;
}

/** A record entity that cannot be read back (edited by hand, written by an incompatible version). */
export class CorruptTrackingError extends Error {
  override readonly name = 'CorruptTrackingError';
  constructor(
    readonly key: BatchKey,
    reason: string,
  ) {
    super(`The stored tracking ${key.customerId}/${key.trackingId} cannot be read: ${reason}`);
  }
}

const isoTime = z.iso.datetime();
const entitySchema = z.object({
  partitionKey: z.string(),
  rowKey: z.string(),
  etag: z.string(),
  state: z.enum(TRACKING_STATES),
  registeredAt: isoTime,
  checks: z.number().int().nonnegative(),
  label: z.string().optional(),
  upstreamStatus: z.string().optional(),
  lastCheckedAt: isoTime.optional(),
  nextCheckAt: isoTime.optional(),
  startedTime: isoTime.optional(),
  completedTime: isoTime.optional(),
  lastError: z.string().optional(),
  summary: z.string().optional(),
  notification: z.string().optional(),
  resultBlob: z.string().optional(),
  firstNotFoundAt: isoTime.optional(),
  cancelledAt: isoTime.optional(),
});

function parseJson<T>(text: string | undefined, schema: z.ZodType<T>): T | undefined | Error {
  if (text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : new Error('unexpected shape');
  } catch {
    return new Error('not JSON');
  }
}

export function fromRecordEntity(key: BatchKey, entity: unknown): StoredTracking {
  const parsed = entitySchema.safeParse(entity);
  if (!parsed.success) {
    throw new CorruptTrackingError(
      key,
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join(', '),
    );
  }
  const e = parsed.data;
  const lastError = parseJson(e.lastError, trackingErrorSchema);
  const summary = parseJson(e.summary, batchSummarySchema);
  if (lastError instanceof Error) throw new CorruptTrackingError(key, `lastError is ${lastError.message}`);
  if (summary instanceof Error) throw new CorruptTrackingError(key, `summary is ${summary.message}`);
  const notification = parseJson(e.notification, notificationStatusSchema);
  if (notification instanceof Error) {
    throw new CorruptTrackingError(key, `notification is ${notification.message}`);
  }
  const record: TrackingRecord = {
    customerId: e.partitionKey,
    trackingId: e.rowKey,
    label: e.label,
    state: e.state,
    upstreamStatus: e.upstreamStatus,
    registeredAt: e.registeredAt,
    lastCheckedAt: e.lastCheckedAt,
    nextCheckAt: e.nextCheckAt,
    checks: e.checks,
    startedTime: e.startedTime,
    completedTime: e.completedTime,
    lastError,
    summary,
    notification,
  };
  return withoutUndefined({
    record: withoutUndefined(record),
    etag: e.etag,
    resultBlob: e.resultBlob,
    firstNotFoundAt: e.firstNotFoundAt,
    cancelledAt: e.cancelledAt,
  });
}

/**
 * Upstream times in ISO 8601 UTC. Partner Center's example has no zone suffix (treated as UTC), and
 * the .NET SDK turned an absent completedTime into 0001-01-01: both are "not a time" here.
 */
export function normalizeUpstreamTime(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  if (!trimmed || trimmed.length > 40) return undefined;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(trimmed) ? trimmed : `${trimmed}Z`;
  const ms = Date.parse(zoned);
  if (Number.isNaN(ms) || new Date(ms).getUTCFullYear() < 1970) return undefined;
  return new Date(ms).toISOString();
}
