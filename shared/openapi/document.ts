import { deepHealthReportSchema, unhealthyProblemSchema } from '../health/deep-health-schema.js';
import { appVersion } from '../health/liveness.js';
import { livenessReportSchema } from '../health/liveness-schema.js';
import { PROBLEM_CONTENT_TYPE, type ProblemKind } from '../http/problem.js';
import { MAX_JSON_BODY_BYTES } from '../http/request-body.js';
import { batchUploadDetailsSchema } from '../partner-center/model.js';
import {
  listTrackingsQuerySchema,
  registerTrackingBodySchema,
  trackingListSchema,
  trackingRecordSchema,
  trackingWithDevicesSchema,
} from '../trackings/model.js';
import { documentedSchemas, openApiDocumentSchema, ref } from './documented-schemas.js';
import {
  cacheControlRequestHeader,
  deepParameter,
  includeParameter,
  refreshParameter,
} from './http-fields.js';
import { schemaComponents } from './json-schema.js';
import type { OpenApiDocument, OperationObject } from './objects.js';
import {
  ANONYMOUS,
  batchKeyParameters,
  CALLER_AUTH_PROBLEMS,
  correlationParameters,
  FUNCTION_KEY,
  header,
  JSON_CONTENT_TYPE,
  parameter,
  problemResponses,
  queryParameters,
  SERVICE_PROBLEMS,
  securedOperation,
  securitySchemes,
  success,
} from './operation-parts.js';
import { completionWebhooks } from './webhooks.js';

export { documentedSchemas, openApiDocumentSchema } from './documented-schemas.js';

/**
 * The app's OpenAPI 3.1 document. Every JSON body is described by the zod schema the code uses
 * (converted with `z.toJSONSchema`), every problem by `problemTypes`, so the document cannot
 * drift from the code; routes are checked against the function registrations by the tests.
 */

export function buildOpenApiDocument(): OpenApiDocument {
  const schemas = schemaComponents(documentedSchemas);
  const correlation = header('MS-CorrelationId', true);
  const noStore = header('Cache-Control', true);
  const trackingProblems: ProblemKind[] = ['storageUnavailable'];

  const getBatchStatus = securedOperation({
    operationId: 'getBatchStatus',
    tags: ['Batch status'],
    summary: "A device batch upload's status, as Partner Center reports it",
    description:
      "Partner Center's `GET /v1/customers/{customerId}/batchJobStatus/{trackingId}`, called with the app's own " +
      'credentials. A terminal result (`finished`, `finished_with_errors`) never changes: once known it is served ' +
      'from storage or memory without asking Partner Center again, unless `refresh=true`.',
    parameters: [
      ...batchKeyParameters,
      parameter('refresh', 'query', refreshParameter, false),
      parameter('Cache-Control', 'header', cacheControlRequestHeader, false),
    ],
    success: {
      '200': success("Partner Center's BatchUploadDetails, unchanged", { schema: batchUploadDetailsSchema }, [
        correlation,
        header('X-Result-Source', true),
        header('Cache-Control', true),
        header('MS-RequestId', false),
        header('MS-CV', false),
        header('Age', false),
      ]),
    },
    problems: [
      'invalidRequest',
      'batchNotFound',
      'upstreamAuthorization',
      'credentialUnavailable',
      'upstreamError',
      'upstreamInvalidResponse',
      'upstreamUnreachable',
      'upstreamThrottled',
      'upstreamTimeout',
      'storageUnavailable',
    ],
  });

  const registerTracking = securedOperation({
    operationId: 'registerTracking',
    tags: ['Trackings'],
    summary: 'Track a batch upload until it is done',
    description:
      'Idempotent: `201` with the new record, or `200` with the existing one when the batch is already tracked. ' +
      'The new tracking is due at once: the next sweep checks it.',
    requestBody: {
      required: true,
      description: `JSON (\`application/json\` or any \`application/*+json\`), at most ${MAX_JSON_BODY_BYTES} bytes.`,
      content: { [JSON_CONTENT_TYPE]: { schema: ref(registerTrackingBodySchema) } },
    },
    success: {
      '200': success('Already tracked: the existing record, unchanged', { schema: trackingRecordSchema }, [
        correlation,
        noStore,
      ]),
      '201': success('Now tracked: the new record', { schema: trackingRecordSchema }, [
        correlation,
        noStore,
        header('Location', true),
      ]),
    },
    problems: ['invalidRequest', 'payloadTooLarge', 'unsupportedMediaType', ...trackingProblems],
  });

  const listTrackings = securedOperation({
    operationId: 'listTrackings',
    tags: ['Trackings'],
    summary: 'Tracked batches, newest registration first',
    parameters: queryParameters(listTrackingsQuerySchema, schemas),
    success: {
      '200': success('One page of trackings', { schema: trackingListSchema }, [correlation, noStore]),
    },
    problems: ['invalidRequest', ...trackingProblems],
  });

  const getTracking = securedOperation({
    operationId: 'getTracking',
    tags: ['Trackings'],
    summary: 'One tracking: state, timings and device-level summary',
    parameters: [...batchKeyParameters, parameter('include', 'query', includeParameter, false)],
    success: {
      '200': success('The tracking', { schema: trackingWithDevicesSchema }, [
        correlation,
        header('Cache-Control', true),
      ]),
    },
    problems: ['invalidRequest', 'notFound', ...trackingProblems],
  });

  const cancelTracking = securedOperation({
    operationId: 'cancelTracking',
    tags: ['Trackings'],
    summary: 'Stop tracking a batch',
    description: 'The record stays, as `cancelled` unless it was already final.',
    parameters: batchKeyParameters,
    success: { '204': success('Tracking stopped', undefined, [correlation, noStore]) },
    problems: ['invalidRequest', 'notFound', ...trackingProblems],
  });

  const getHealth: OperationObject = {
    operationId: 'getHealth',
    tags: ['Service'],
    summary: 'Liveness: answers whenever the process can serve requests',
    parameters: [parameter('deep', 'query', deepParameter, false), ...correlationParameters],
    responses: {
      '200': success('The process is alive', { schema: livenessReportSchema }, [correlation, noStore]),
      '307': success(
        '`deep=true`: the deep check needs a function key, so it lives at `/health/deep` (the query, `code` included, travels along)',
        undefined,
        [correlation, noStore, header('Location', true, 'Where the deep check is: /api/health/deep')],
      ),
    },
    security: ANONYMOUS,
  };

  const getDeepHealth: OperationObject = {
    operationId: 'getDeepHealth',
    tags: ['Service'],
    summary: 'Readiness: storage, Key Vault and a Partner Center token, each checked within 3 s',
    parameters: [...correlationParameters],
    responses: {
      '200': success('Every dependency answered', { schema: deepHealthReportSchema }, [correlation, noStore]),
      '503': success(
        'A dependency failed its check (problem details carrying the report)',
        { schema: unhealthyProblemSchema, contentType: PROBLEM_CONTENT_TYPE },
        [correlation, noStore, header('Retry-After', true)],
      ),
      ...problemResponses([
        ...CALLER_AUTH_PROBLEMS.filter((kind) => kind === 'unauthorized'),
        ...SERVICE_PROBLEMS,
      ]),
    },
    security: FUNCTION_KEY.filter((requirement) => !('entraBearer' in requirement)),
  };

  const getOpenApiDocument: OperationObject = {
    operationId: 'getOpenApiDocument',
    tags: ['Service'],
    summary: 'This OpenAPI 3.1 document',
    parameters: [...correlationParameters],
    responses: {
      '200': success('The document', { schema: openApiDocumentSchema }, [correlation]),
      ...problemResponses(['internal']),
    },
    security: ANONYMOUS,
  };

  return {
    openapi: '3.1.1',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Device batch status service',
      version: appVersion(),
      description:
        'One dependable place to ask what happened to device batch uploads in Microsoft Partner Center: ' +
        "a live status lookup with the app's own credentials, and trackings that a timer sweep keeps polling " +
        'until each batch is done. Every error is `application/problem+json` (RFC 9457) with a `type` to switch ' +
        'on and a `correlationId`, also echoed in the `MS-CorrelationId` header.',
    },
    servers: [{ url: '/api', description: 'This function app' }],
    tags: [
      { name: 'Batch status', description: 'Live lookups of Partner Center batch upload status' },
      { name: 'Trackings', description: 'Batches the app keeps polling until they are done' },
      { name: 'Service', description: 'About the service itself' },
    ],
    paths: {
      '/customers/{customerId}/batchJobStatus/{trackingId}': { get: getBatchStatus },
      '/trackings': { post: registerTracking, get: listTrackings },
      '/trackings/{customerId}/{trackingId}': { get: getTracking, delete: cancelTracking },
      '/health': { get: getHealth },
      '/health/deep': { get: getDeepHealth },
      '/openapi.json': { get: getOpenApiDocument },
    },
    webhooks: completionWebhooks(ref),
    components: {
      schemas,
      securitySchemes,
    },
  };
}

let cached: OpenApiDocument | undefined;

/** The document, built on first use and then shared (frozen: callers cannot change it for the next one). */
export function openApiDocument(): OpenApiDocument {
  cached ??= deepFreeze(buildOpenApiDocument());
  return cached;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
