import { z } from 'zod';
import { LOWER_CASE_GUID_PATTERN } from '../partner-center/model.js';
import { type Problem, type ProblemKind, problemTypes } from './problem.js';

/**
 * The problem details body (RFC 9457) as a schema, for the OpenAPI document and for tests that
 * check real answers. Built from `problemTypes`, so a new kind is listed here without an edit.
 */

const kinds = Object.keys(problemTypes) as ProblemKind[];
const typeUris = kinds.map((kind) => problemTypes[kind].type) as [string, ...string[]];

const lowerCaseGuid = LOWER_CASE_GUID_PATTERN;

export const problemTypeSchema = z
  .enum(typeUris)
  .describe(
    'What went wrong, as a stable relative URI to switch on (the `title` is fixed per type):\n' +
      kinds
        .map(
          (kind) =>
            `- \`${problemTypes[kind].type}\` (${problemTypes[kind].status}): ${problemTypes[kind].title}`,
        )
        .join('\n'),
  )
  .meta({ id: 'ProblemType' });

export const upstreamFactsSchema = z
  .object({
    status: z.number().int().optional().describe("Partner Center's HTTP status"),
    code: z.string().optional().describe("Partner Center's error code"),
    description: z.string().optional().describe("Partner Center's error description"),
    requestId: z.string().optional().describe('The MS-RequestId of the upstream call, for a support ticket'),
  })
  .describe('Set where Partner Center was involved: what a support ticket needs')
  .meta({ id: 'UpstreamFacts' });

export const problemSchema = z
  .object({
    type: problemTypeSchema,
    title: z.string().describe('Short and stable for a given `type`'),
    status: z.number().int().min(400).max(599).describe('The HTTP status of the response'),
    detail: z.string().describe('What happened and what to do next'),
    correlationId: z
      .string()
      .regex(lowerCaseGuid)
      .describe('Also in the MS-CorrelationId response header; quote it when reporting a problem'),
    upstream: upstreamFactsSchema.optional(),
    errors: z.array(z.string()).optional().describe('Field-level validation messages, for 400s'),
  })
  .describe('RFC 9457 problem details: the body of every error answer of the app')
  .meta({ id: 'Problem' });

export type ProblemDetails = z.infer<typeof problemSchema>;

type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Holds<T extends true> = T;

/**
 * Fails to compile when the schema and the `Problem` interface the code builds drift apart: every
 * schema value is a Problem, and both name the same fields.
 */
export type ProblemSchemaInSync = [
  Holds<ProblemDetails extends Problem ? true : false>,
  Holds<SameKeys<ProblemDetails, Problem>>,
  Holds<SameKeys<NonNullable<ProblemDetails['upstream']>, NonNullable<Problem['upstream']>>>,
];
