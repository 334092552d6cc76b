import { z } from 'zod';
import { guid, httpsUrl, positiveInt, type ReadSetting, text } from './setting-schemas.js';

/**
 * Defaults of the Partner Center client: the one place they are defined. The settings fall
 * back to them, and so does a client built without settings (tests, benchmarks).
 */
export const PARTNER_CENTER_DEFAULTS: Readonly<
  Omit<PartnerCenterSettings, 'tenantId' | 'clientId'> & { retryDelayInMs: number; maxRetryDelayInMs: number }
> = {
  baseUrl: 'https://api.partnercenter.microsoft.com',
  scope: 'https://api.partnercenter.microsoft.com/.default',
  locale: 'en-US',
  applicationName: 'device-batch-status',
  attemptTimeoutMs: 10_000,
  deadlineMs: 25_000,
  maxRetries: 4,
  maxRetryAfterMs: 10_000,
  maxConcurrentCalls: 16,
  maxResponseBytes: 16 * 1024 * 1024,
  /** Backoff of the core retry policy (not settings: tests and benchmarks shorten them). */
  retryDelayInMs: 500,
  maxRetryDelayInMs: 8000,
};

export interface PartnerCenterSettings {
  /** Upstream root without `/v1`; the client adds `/v1/...`. */
  baseUrl: string;
  tenantId?: string;
  clientId?: string;
  /** Token scope for app-only calls. */
  scope: string;
  locale: string;
  applicationName: string;
  /** Per-attempt timeout. */
  attemptTimeoutMs: number;
  /** Overall deadline for one logical request, retries included. */
  deadlineMs: number;
  maxRetries: number;
  /** Longest Retry-After the client will wait inside one request before giving up with 503. */
  maxRetryAfterMs: number;
  maxConcurrentCalls: number;
  maxResponseBytes: number;
}

/** The PARTNER_CENTER_* settings of the client (the credential's are read in settings.ts). */
export function readPartnerCenterSettings(read: ReadSetting): PartnerCenterSettings {
  const withDefault = <T>(field: { name: string; schema: z.ZodType<T>; fallback: string }) =>
    read(field.name, field.schema, field.fallback) as T;
  return {
    baseUrl: withDefault({
      name: 'PARTNER_CENTER_BASE_URL',
      schema: httpsUrl,
      fallback: PARTNER_CENTER_DEFAULTS.baseUrl,
    }),
    tenantId: read('PARTNER_CENTER_TENANT_ID', text),
    clientId: read('PARTNER_CENTER_CLIENT_ID', guid),
    scope: withDefault({
      name: 'PARTNER_CENTER_SCOPE',
      schema: text,
      fallback: PARTNER_CENTER_DEFAULTS.scope,
    }),
    locale: withDefault({
      name: 'PARTNER_CENTER_LOCALE',
      schema: text,
      fallback: PARTNER_CENTER_DEFAULTS.locale,
    }),
    applicationName: withDefault({
      name: 'PARTNER_CENTER_APPLICATION_NAME',
      schema: text,
      fallback: PARTNER_CENTER_DEFAULTS.applicationName,
    }),
    attemptTimeoutMs: withDefault({
      name: 'PARTNER_CENTER_ATTEMPT_TIMEOUT_MS',
      schema: positiveInt(120_000),
      fallback: String(PARTNER_CENTER_DEFAULTS.attemptTimeoutMs),
    }),
    deadlineMs: withDefault({
      name: 'PARTNER_CENTER_DEADLINE_MS',
      schema: positiveInt(600_000),
      fallback: String(PARTNER_CENTER_DEFAULTS.deadlineMs),
    }),
    maxRetries: withDefault({
      name: 'PARTNER_CENTER_MAX_RETRIES',
      schema: z.coerce.number().int().min(0).max(10),
      fallback: String(PARTNER_CENTER_DEFAULTS.maxRetries),
    }),
    maxRetryAfterMs: withDefault({
      name: 'PARTNER_CENTER_MAX_RETRY_AFTER_MS',
      schema: positiveInt(600_000),
      fallback: String(PARTNER_CENTER_DEFAULTS.maxRetryAfterMs),
    }),
    maxConcurrentCalls: withDefault({
      name: 'PARTNER_CENTER_MAX_CONCURRENCY',
      schema: positiveInt(1000),
      fallback: String(PARTNER_CENTER_DEFAULTS.maxConcurrentCalls),
    }),
    maxResponseBytes: withDefault({
      name: 'PARTNER_CENTER_MAX_RESPONSE_BYTES',
      schema: positiveInt(512 * 1024 * 1024),
      fallback: String(PARTNER_CENTER_DEFAULTS.maxResponseBytes),
    }),
  };
}
