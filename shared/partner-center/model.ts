import { z } from 'zod';

/**
 * Partner Center's BatchUploadDetails, validated loosely on purpose: the raw status strings and any
 * field we do not know yet are kept (`.loose()`), because the upstream docs disagree with each other
 * and a proxy must not drop what it does not understand.
 */
export const deviceUploadDetailsSchema = z
  .object({
    deviceId: z.string().optional(),
    serialNumber: z.string().optional(),
    productKey: z.string().optional(),
    status: z.string().optional(),
    errorCode: z.string().optional(),
    errorDescription: z.string().optional(),
    attributes: z.object({ objectType: z.string().optional() }).loose().optional(),
  })
  .loose()
  .meta({ id: 'DeviceUploadDetails' });

export const batchUploadDetailsSchema = z
  .object({
    batchTrackingId: z.string().optional(),
    status: z.string(),
    startedTime: z.string().optional(),
    completedTime: z.string().optional(),
    devicesStatus: z.array(deviceUploadDetailsSchema).optional(),
    attributes: z
      .object({ objectType: z.string().optional(), etag: z.string().optional() })
      .loose()
      .optional(),
  })
  .loose()
  .meta({ id: 'BatchUploadDetails' });

export type DeviceUploadDetails = z.infer<typeof deviceUploadDetailsSchema>;
export type BatchUploadDetails = z.infer<typeof batchUploadDetailsSchema>;

/** Batch states after which Partner Center never changes its answer. */
export const TERMINAL_BATCH_STATUSES = ['finished', 'finished_with_errors'] as const;
export type TerminalBatchStatus = (typeof TERMINAL_BATCH_STATUSES)[number];

/** `unknown` and values never seen before are non-terminal on purpose: the sweep's expiry bounds them. */
export function isTerminalBatchStatus(status: string): status is TerminalBatchStatus {
  return (TERMINAL_BATCH_STATUSES as readonly string[]).includes(status);
}

/** A GUID in lower case: ids as the app stores and answers them. */
export const LOWER_CASE_GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Customer (tenant) and tracking ids are GUIDs on the wire; anything else is refused before any upstream call. */
export const GUID_PATTERN = new RegExp(LOWER_CASE_GUID_PATTERN.source, 'i');

export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value);
}

/** Identifies one upload's status resource; ids are normalised to lower case. */
export interface BatchKey {
  customerId: string;
  trackingId: string;
}

export interface GetBatchStatusOptions {
  /** Propagated upstream as MS-CorrelationId; one is generated when absent. */
  correlationId?: string;
  abortSignal?: AbortSignal;
  /**
   * Longest Retry-After to wait out inside this request. 0 makes a 429 fail fast with
   * `failure: 'throttled'`, which the sweep uses to pause all of its work at once.
   */
  maxRetryAfterMs?: number;
}

export interface BatchStatusResponse {
  details: BatchUploadDetails;
  /** The body exactly as Partner Center sent it, for callers that proxy it unchanged. */
  rawBody: string;
  /** Upstream diagnostics that Partner Center support asks for. */
  requestId?: string;
  correlationId?: string;
  cv?: string;
}

/** The one operation the rest of the app needs from Partner Center (implemented by PartnerCenterClient). */
export interface BatchStatusReader {
  getBatchStatus(
    customerId: string,
    trackingId: string,
    options?: GetBatchStatusOptions,
  ): Promise<BatchStatusResponse>;
}
