import { z } from 'zod';
import type { ResultSource } from '../lookup/batch-status-lookup.js';
import { LOWER_CASE_GUID_PATTERN } from '../partner-center/model.js';

/**
 * Schemas for the route, query and header values that the HTTP adapters read and write as plain
 * strings (the JSON bodies have their schemas next to their code). The OpenAPI document is
 * generated from these, and the end-to-end test checks real answers against them.
 */

const ANY_CASE_GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LOWER_CASE_GUID = LOWER_CASE_GUID_PATTERN;
const GUID_PATTERN_SOURCE = LOWER_CASE_GUID.source.slice(1, -1);

export const RESULT_SOURCES = ['live', 'storage', 'memory'] as const;

type SameUnion<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
/** Fails to compile when the lookup gains a result source the document does not list. */
export type ResultSourcesInSync = Holds<SameUnion<(typeof RESULT_SOURCES)[number], ResultSource>>;

export const customerIdParameter = z
  .string()
  .regex(ANY_CASE_GUID)
  .describe("The customer's Microsoft Entra tenant id (GUID, any case)");

export const trackingIdParameter = z
  .string()
  .regex(ANY_CASE_GUID)
  .describe("The batch tracking id from the upload call's Location header (GUID, any case)");

export const refreshParameter = z
  .enum(['true', 'false'])
  .describe('`true` asks Partner Center even when a terminal result is already stored');

export const includeParameter = z
  .enum(['devices'])
  .describe('`devices` adds the full per-device list (`devicesStatus`) from the stored result');

export const deepParameter = z
  .enum(['true', 'false'])
  .describe('`true` redirects (307) to the deep check at `/health/deep`, which needs a function key');

export const correlationIdRequestHeader = z
  .string()
  .describe(
    'A GUID to correlate this call with yours; sent on to Partner Center and echoed as MS-CorrelationId. ' +
      'A value that is not a GUID is ignored and a new id is used.',
  );

/** Every response header the document names, by name. */
export const responseHeaders = {
  'MS-CorrelationId': z
    .string()
    .regex(LOWER_CASE_GUID)
    .describe("The caller's correlation id (lower case), or the one created for this call"),
  'MS-RequestId': z
    .string()
    .describe("Partner Center's request id, on answers that came from Partner Center"),
  'MS-CV': z
    .string()
    .describe("Partner Center's correlation vector, on answers that came from Partner Center"),
  'X-Result-Source': z
    .enum(RESULT_SOURCES)
    .describe(
      'Where the answer came from: `live` (Partner Center), `storage` (a stored terminal result) or `memory`',
    ),
  'Cache-Control': z.string().describe('`no-store`, or `private, max-age=300` for results that never change'),
  'Retry-After': z
    .string()
    .regex(/^[0-9]+$/)
    .describe('Seconds to wait before trying again'),
  Location: z
    .string()
    .regex(new RegExp(`^/api/(trackings/${GUID_PATTERN_SOURCE}/${GUID_PATTERN_SOURCE}|health/deep(\\?.*)?)$`))
    .describe(
      'Where to go: the new tracking (/api/trackings/{customerId}/{trackingId}) or the deep health check',
    ),
  'WWW-Authenticate': z
    .string()
    .describe(
      'The RFC 6750 Bearer challenge, when Microsoft Entra ID caller authentication refused the token',
    ),
} satisfies Record<string, z.ZodType>;

export type ResponseHeaderName = keyof typeof responseHeaders;
