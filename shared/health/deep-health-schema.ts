import { z } from 'zod';
import { problemSchema } from '../http/problem-schema.js';
import type { ComponentHealth, DeepHealthReport } from './deep-health.js';

/** A refresh token unused for 90 days dies; the app rotates it on every exchange, so 30 days means rotation has stopped. */
export const REFRESH_TOKEN_DEGRADED_AFTER_DAYS = 30;

/**
 * The bodies of `GET /api/health/deep`, for the OpenAPI document and for tests that check real
 * answers: 200 is the report; 503 is problem details (`/problems/unhealthy`) carrying the same
 * report fields as RFC 9457 extension members.
 */
export const componentHealthSchema = z
  .object({
    status: z
      .enum(['healthy', 'degraded', 'unhealthy', 'not_configured'])
      .describe('`not_configured` counts as healthy; `degraded` works but needs an operator soon'),
    latencyMs: z.number().int().min(0).describe('How long the check took'),
    detail: z
      .string()
      .optional()
      .describe('Why it is unhealthy or degraded: a timeout, a status code, a setting. Never a secret'),
    ageSeconds: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('`refreshToken` only: seconds since the App+User refresh token last rotated'),
  })
  .meta({ id: 'ComponentHealth' });

const reportFields = {
  authMode: z
    .enum(['app', 'app_user'])
    .optional()
    .describe('PARTNER_CENTER_AUTH_MODE: app-only tokens, or App+User (secure application model)'),
  version: z.string().describe("The app's version (package.json)"),
  checkedAt: z.iso.datetime().describe('When the checks started (ISO 8601 UTC)'),
  durationMs: z.number().int().min(0).describe('How long all checks took together (they run side by side)'),
  components: z
    .object({
      storage: componentHealthSchema.describe('Tracking storage: a one-entity query on the due index table'),
      keyVault: componentHealthSchema.describe('The app credential, read again when older than 30 s'),
      partnerCenterToken: componentHealthSchema.describe('An Entra ID token for Partner Center'),
      refreshToken: componentHealthSchema.describe(
        `App+User only: the refresh token's age since its last rotation, degraded after ${REFRESH_TOKEN_DEGRADED_AFTER_DAYS} days (Entra lets it die after 90 days unused) or when a rotated one could not be written to Key Vault`,
      ),
      notifications: componentHealthSchema
        .optional()
        .describe(
          'Completion webhooks: the delivery queue answers; `detail` gives the poison queue length (given-up deliveries)',
        ),
    })
    .describe('Each check is limited to 3 s'),
};

export const deepHealthReportSchema = z
  .object({ status: z.enum(['healthy', 'degraded']), ...reportFields })
  .describe('Every dependency answered (`degraded`: one needs an operator soon)')
  .meta({ id: 'DeepHealthReport' });

export const unhealthyProblemSchema = problemSchema
  .extend({ type: z.literal('/problems/unhealthy'), status: z.literal(503), ...reportFields })
  .describe('A dependency failed its check: problem details with the report as extension members')
  .meta({ id: 'UnhealthyProblem' });

type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Holds<T extends true> = T;

/** Fails to compile when the report the code builds and the schema drift apart. */
export type DeepHealthSchemaInSync = [
  Holds<SameKeys<z.infer<typeof deepHealthReportSchema>, DeepHealthReport>>,
  Holds<SameKeys<z.infer<typeof componentHealthSchema>, ComponentHealth>>,
];
