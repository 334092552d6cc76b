import type { z } from 'zod';
import { PROBLEM_CONTENT_TYPE, type ProblemKind, problem, problemTypes } from '../http/problem.js';
import { problemSchema } from '../http/problem-schema.js';
import { idOf, ref } from './documented-schemas.js';
import {
  correlationIdRequestHeader,
  customerIdParameter,
  type ResponseHeaderName,
  responseHeaders,
  trackingIdParameter,
} from './http-fields.js';
import { inlineSchema, type JsonSchema } from './json-schema.js';
import type {
  HeaderObject,
  OperationObject,
  ParameterObject,
  ResponseObject,
  SecurityRequirement,
  SecuritySchemeObject,
} from './objects.js';

/*
 * The parts every operation of the OpenAPI document (document.ts) is built from: headers and
 * parameters from the zod schemas the code uses, success and problem responses, and how an
 * operation is secured (function key, optionally an Entra ID bearer token).
 */

export const JSON_CONTENT_TYPE = 'application/json';

export const FUNCTION_KEY: SecurityRequirement[] = [
  { functionKey: [] },
  { functionKeyQuery: [] },
  { functionKey: [], entraBearer: [] },
  { functionKeyQuery: [], entraBearer: [] },
];
export const ANONYMOUS: SecurityRequirement[] = [];

/** What any function-level endpoint may answer, whatever it does. */
export const CALLER_AUTH_PROBLEMS: ProblemKind[] = ['unauthorized', 'forbidden', 'callerAuthUnavailable'];
export const SERVICE_PROBLEMS: ProblemKind[] = ['misconfigured', 'internal'];

export function header(
  name: ResponseHeaderName,
  required: boolean,
  description?: string,
): [string, HeaderObject] {
  const schema = inlineSchema(responseHeaders[name], 'output');
  return [
    name,
    {
      description: description ?? (schema.description as string | undefined) ?? name,
      required,
      schema,
    },
  ];
}

export function parameter(
  name: string,
  where: ParameterObject['in'],
  schema: z.ZodType,
  required: boolean,
): ParameterObject {
  const json = inlineSchema(schema, 'input');
  const description = json.description as string | undefined;
  return { name, in: where, required, ...(description ? { description } : {}), schema: json };
}

export const correlationParameters: ParameterObject[] = [
  parameter('MS-CorrelationId', 'header', correlationIdRequestHeader, false),
  parameter('x-correlation-id', 'header', correlationIdRequestHeader, false),
];

export const batchKeyParameters: ParameterObject[] = [
  parameter('customerId', 'path', customerIdParameter, true),
  parameter('trackingId', 'path', trackingIdParameter, true),
];

/** Query parameters from an object schema's component: one parameter per property. */
export function queryParameters(
  objectSchema: z.ZodType,
  components: Record<string, JsonSchema>,
): ParameterObject[] {
  const component = components[idOf(objectSchema)] as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(component.properties ?? {}).map(([name, schema]) => {
    const description = schema.description as string | undefined;
    return {
      name,
      in: 'query',
      required: component.required?.includes(name) ?? false,
      ...(description ? { description } : {}),
      schema,
    };
  });
}

export function success(
  description: string,
  body: { schema: z.ZodType; contentType?: string } | undefined,
  headers: [string, HeaderObject][],
): ResponseObject {
  return {
    description,
    headers: Object.fromEntries(headers),
    ...(body ? { content: { [body.contentType ?? JSON_CONTENT_TYPE]: { schema: ref(body.schema) } } } : {}),
  };
}

const EXAMPLE_CORRELATION_ID = '9f1c2b3a-4d5e-4f60-8a7b-6c5d4e3f2a10';

/** One response per status the kinds map to, each listing its problem types as examples. */
export function problemResponses(kinds: readonly ProblemKind[]): Record<string, ResponseObject> {
  const byStatus = new Map<number, ProblemKind[]>();
  for (const kind of new Set(kinds)) {
    const status = problemTypes[kind].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), kind]);
  }
  const responses: Record<string, ResponseObject> = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const ofStatus = byStatus.get(status)!;
    const headers = [header('MS-CorrelationId', true), header('Cache-Control', true)];
    if (status === 503) headers.push(header('Retry-After', true));
    if (status === 401 || status === 403) headers.push(header('WWW-Authenticate', false));
    let description = ofStatus.map((kind) => problemTypes[kind].title).join('; ');
    if (status === 401) {
      description +=
        '. A missing or wrong function key is refused by the Functions host before the app runs ' +
        '(Azure answers it with an empty body).';
    }
    responses[String(status)] = {
      description,
      headers: Object.fromEntries(headers),
      content: {
        [PROBLEM_CONTENT_TYPE]: {
          schema: ref(problemSchema),
          examples: Object.fromEntries(
            ofStatus.map((kind) => [
              kind,
              {
                summary: problemTypes[kind].title,
                value: problem(kind, {
                  detail: 'What happened and what to do next.',
                  correlationId: EXAMPLE_CORRELATION_ID,
                }),
              },
            ]),
          ),
        },
      },
    };
  }
  return responses;
}

export function securedOperation(
  operation: Omit<OperationObject, 'security' | 'responses'> & {
    success: Record<string, ResponseObject>;
    problems: ProblemKind[];
  },
): OperationObject {
  const { success: ok, problems, parameters, ...rest } = operation;
  return {
    ...rest,
    parameters: [...(parameters ?? []), ...correlationParameters],
    responses: { ...ok, ...problemResponses([...problems, ...CALLER_AUTH_PROBLEMS, ...SERVICE_PROBLEMS]) },
    security: FUNCTION_KEY,
  };
}

/** The schemes FUNCTION_KEY refers to. */
export const securitySchemes: Record<string, SecuritySchemeObject> = {
  functionKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-functions-key',
    description: 'An Azure Functions function (or host) key.',
  },
  functionKeyQuery: {
    type: 'apiKey',
    in: 'query',
    name: 'code',
    description: 'The same function key, as the `code` query parameter.',
  },
  entraBearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A Microsoft Entra ID access token for this app, in addition to the function key. Required only ' +
      'where the app is configured for it (`CALLER_AUTH_AUDIENCE`, `CALLER_AUTH_TENANT_ID`, optionally ' +
      '`CALLER_AUTH_REQUIRED_ROLE`); ignored otherwise.',
  },
};
