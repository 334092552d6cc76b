/**
 * Everything the function adapters use, in one module that `functions/*.ts` import on first use
 * (`await import()`): loading the function modules — what the Functions host does at start-up,
 * before any request — then costs little more than @azure/functions itself, and the Azure SDKs,
 * zod and the rest load with the first invocation that needs them.
 */
export { services } from './composition.js';
export { deepHealthRedirect, deepHealthResult, wantsDeepHealth } from './health/deep-health.js';
export { livenessReport } from './health/liveness.js';
export { maxStaleOf } from './http/cache-control.js';
export { RequestError, runHttpEndpoint } from './http/endpoint.js';
export { readJsonBody } from './http/request-body.js';
export { lookupResponse, trackingResponse } from './http/responses.js';
export { openApiDocument } from './openapi/document.js';
export { correlatedInvocation } from './telemetry/invocation-log.js';
export { answerUnsupportedTrackingRequest, runTrackingEndpoint } from './tracking-api.js';
export { describeSweepReport } from './trackings/sweep-summary.js';
