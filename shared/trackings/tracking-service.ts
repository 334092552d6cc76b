import type { z } from 'zod';
import { subscribe } from '../notifications/notification-state.js';
import { type HostPattern, parseWebhookUrl } from '../notifications/webhook-url.js';
import { isTerminalBatchStatus } from '../partner-center/model.js';
import { TrackingNotFoundError, ValidationError } from './errors.js';
import {
  listTrackingsQuerySchema,
  MAX_NOTIFY_URLS,
  registerTrackingBodySchema,
  type TrackingList,
  type TrackingRecord,
  type TrackingWithDevices,
  type ValidationProblem,
} from './model.js';
import type { ResultStore } from './result-store.js';
import { parseBatchKey, parseRegistration, withoutBlanks } from './tracking-reference.js';
import type { TrackingRepository } from './tracking-repository.js';

export interface TrackingServiceOptions {
  store: TrackingRepository;
  results: ResultStore;
  clock?: () => Date;
  /** NOTIFY_ALLOWED_HOSTS: where `notify.url` may point; empty or absent means webhooks are off. */
  allowedWebhookHosts?: readonly HostPattern[];
}

export interface GetTrackingOptions {
  /** Adds the full per-device list from the stored result (`?include=devices`). */
  includeDevices?: boolean;
}

/**
 * The tracking operations behind the HTTP API, input validation included. Failures a caller can
 * fix are ValidationError (400) and TrackingNotFoundError (404); anything else is the service's fault.
 */
export class TrackingService {
  private readonly store: TrackingRepository;
  private readonly results: ResultStore;
  private readonly clock: () => Date;
  private readonly allowedWebhookHosts: readonly HostPattern[];

  constructor(options: TrackingServiceOptions) {
    this.allowedWebhookHosts = options.allowedWebhookHosts ?? [];
    this.store = options.store;
    this.results = options.results;
    this.clock = options.clock ?? (() => new Date());
  }

  /** `created` tells 201 (new) from 200 (already registered, returned unchanged). */
  async register(body: unknown): Promise<{ record: TrackingRecord; created: boolean }> {
    const parsed = parseRegistration(body);
    if (!parsed.ok) throw new ValidationError(parsed.problems);
    // The parser says precisely what is wrong; the documented schema has the last word, so nothing
    // outside the published contract (OpenAPI) is ever accepted.
    const documented = registerTrackingBodySchema.safeParse(body);
    if (!documented.success) throw new ValidationError(problemsOf(documented.error));
    const { key, label } = parsed.value;
    const url = this.notifyUrl(body);
    const first = url === undefined ? undefined : subscribe(undefined, url);
    const notification = first && 'notification' in first ? first.notification : undefined;
    const input = { ...(label === undefined ? {} : { label }), ...(notification ? { notification } : {}) };
    const registered = await this.store.register(key, input, this.clock());
    if (registered.created || url === undefined) return registered;
    // Registered before: a new URL is added (once) while the tracking has not ended.
    const record = await this.store.updateNotification(key, (current) => {
      if (current.state !== 'pending') return undefined;
      const result = subscribe(current.notification, url);
      if ('tooMany' in result) {
        throw new ValidationError([
          { field: 'notify.url', message: `a tracking has at most ${MAX_NOTIFY_URLS} webhooks` },
        ]);
      }
      return result.changed ? result.notification : undefined;
    });
    return { record: record ?? registered.record, created: false };
  }

  /** `notify.url`, checked: https, no credentials, a host NOTIFY_ALLOWED_HOSTS allows. */
  private notifyUrl(body: unknown): string | undefined {
    const notify = (body as { notify?: unknown }).notify;
    if (notify === undefined || notify === null) return undefined;
    const url = (notify as { url?: unknown }).url;
    if (typeof url !== 'string') {
      throw new ValidationError([{ field: 'notify.url', message: 'must be a string (an https URL)' }]);
    }
    const checked = parseWebhookUrl(url, this.allowedWebhookHosts);
    if (!checked.ok) throw new ValidationError([{ field: 'notify.url', message: checked.reason }]);
    return checked.url;
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
    // Only the documented parameters, blanks as absent: `code` (the function key) and the like are not ours.
    const known = Object.fromEntries(
      Object.keys(listTrackingsQuerySchema.shape)
        .map((name) => [name, query[name]?.trim()] as const)
        .filter(([, value]) => value),
    );
    const parsed = listTrackingsQuerySchema.safeParse(known);
    if (!parsed.success) throw new ValidationError(problemsOf(parsed.error, 'query'));
    return this.store.list(parsed.data);
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
  const parsed = parseBatchKey(withoutBlanks(customerId), withoutBlanks(trackingId));
  if (!parsed.ok) throw new ValidationError(parsed.problems);
  return parsed.value;
}

function problemsOf(error: z.ZodError, root = 'body'): ValidationProblem[] {
  return error.issues.flatMap((issue) => issueProblems(issue, root));
}

/** For a union (the register body's three forms), the form that came closest says what is wrong. */
function issueProblems(issue: z.core.$ZodIssue, root: string): ValidationProblem[] {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
    return closest.flatMap((inner) => issueProblems(inner, root));
  }
  return [{ field: issue.path.length > 0 ? issue.path.join('.') : root, message: issue.message }];
}
