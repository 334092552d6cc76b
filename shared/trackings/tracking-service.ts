import { isTerminalBatchStatus } from '../partner-center/model.js';
import { TrackingNotFoundError, ValidationError } from './errors.js';
import {
  MAX_LIST_TOP,
  TRACKING_STATES,
  type TrackingList,
  type TrackingRecord,
  type TrackingState,
  type TrackingWithDevices,
  type ValidationProblem,
} from './model.js';
import type { ResultStore } from './result-store.js';
import { parseBatchKey, parseGuid, parseRegistration } from './tracking-reference.js';
import type { ListTrackingsOptions, TrackingStore } from './tracking-store.js';

export interface TrackingServiceOptions {
  store: TrackingStore;
  results: ResultStore;
  clock?: () => Date;
}

export interface GetTrackingOptions {
  /** Adds the full per-device list from the stored result (`?include=devices`). */
  includeDevices?: boolean;
}

const MAX_TOKEN_LENGTH = 1024;

/**
 * The tracking operations behind the HTTP API, input validation included. Failures a caller can
 * fix are ValidationError (400) and TrackingNotFoundError (404); anything else is the service's fault.
 */
export class TrackingService {
  private readonly store: TrackingStore;
  private readonly results: ResultStore;
  private readonly clock: () => Date;

  constructor(options: TrackingServiceOptions) {
    this.store = options.store;
    this.results = options.results;
    this.clock = options.clock ?? (() => new Date());
  }

  /** `created` tells 201 (new) from 200 (already registered, returned unchanged). */
  async register(body: unknown): Promise<{ record: TrackingRecord; created: boolean }> {
    const parsed = parseRegistration(body);
    if (!parsed.ok) throw new ValidationError(parsed.problems);
    const { key, label } = parsed.value;
    return this.store.register(key, label === undefined ? {} : { label }, this.clock());
  }

  async get(
    customerId: string,
    trackingId: string,
    options: GetTrackingOptions = {},
  ): Promise<TrackingWithDevices> {
    const key = validKey(customerId, trackingId);
    const record = await this.store.get(key);
    if (!record) throw new TrackingNotFoundError(key);
    if (!options.includeDevices || !isTerminalBatchStatus(record.state)) return record;
    const details = await this.results.get(key);
    return details ? { ...record, devicesStatus: details.devicesStatus ?? [] } : record;
  }

  /** Query parameters as they came (`state`, `customerId`, `top`, `continuationToken`); others are ignored. */
  async list(query: Readonly<Record<string, string | undefined>>): Promise<TrackingList> {
    const problems: ValidationProblem[] = [];
    const options: ListTrackingsOptions = {};
    const value = (name: string) => {
      const raw = query[name]?.trim();
      return raw ? raw : undefined;
    };

    const state = value('state');
    if (state !== undefined) {
      if ((TRACKING_STATES as readonly string[]).includes(state)) options.state = state as TrackingState;
      else problems.push({ field: 'state', message: `must be one of ${TRACKING_STATES.join(', ')}` });
    }
    const customerId = value('customerId');
    if (customerId !== undefined) {
      const parsed = parseGuid(customerId, 'customerId');
      if (parsed.ok) options.customerId = parsed.value;
      else problems.push(...parsed.problems);
    }
    const top = value('top');
    if (top !== undefined) {
      const n = /^\d{1,4}$/.test(top) ? Number(top) : Number.NaN;
      if (Number.isInteger(n) && n >= 1 && n <= MAX_LIST_TOP) options.top = n;
      else problems.push({ field: 'top', message: `must be a whole number from 1 to ${MAX_LIST_TOP}` });
    }
    const continuationToken = value('continuationToken');
    if (continuationToken !== undefined) {
      if (continuationToken.length <= MAX_TOKEN_LENGTH) options.continuationToken = continuationToken;
      else problems.push({ field: 'continuationToken', message: 'is not a token this service issued' });
    }
    if (problems.length > 0) throw new ValidationError(problems);
    return this.store.list(options);
  }

  /** Stops tracking; the record stays (as `cancelled` unless it was already final). */
  async cancel(customerId: string, trackingId: string): Promise<TrackingRecord> {
    const key = validKey(customerId, trackingId);
    const record = await this.store.cancel(key, this.clock());
    if (!record) throw new TrackingNotFoundError(key);
    return record;
  }
}

function validKey(customerId: string, trackingId: string) {
  const parsed = parseBatchKey(customerId, trackingId);
  if (!parsed.ok) throw new ValidationError(parsed.problems);
  return parsed.value;
}
