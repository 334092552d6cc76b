import { z } from 'zod';
import type { livenessReport } from './liveness.js';

/** The body of `GET /api/health`, for the OpenAPI document and for tests that check real answers. */
export const livenessReportSchema = z
  .object({
    status: z.literal('ok').describe('Always `ok`: the process can serve requests'),
    version: z.string().describe("The app's version (package.json)"),
    startedAt: z.iso.datetime().describe('When this process started (ISO 8601 UTC)'),
    node: z.string().describe('The Node.js version, as `process.version`'),
  })
  .describe('Liveness only: nothing about settings, secrets or dependencies')
  .meta({ id: 'LivenessReport' });

export type LivenessReportBody = z.infer<typeof livenessReportSchema>;

type Report = ReturnType<typeof livenessReport>;
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Holds<T extends true> = T;

/** Fails to compile when `livenessReport()` gains or loses a field the schema does not describe. */
export type LivenessSchemaInSync = [
  Holds<SameKeys<Report, LivenessReportBody>>,
  Holds<LivenessReportBody extends Report ? true : false>,
];
