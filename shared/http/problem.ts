import { withoutUndefined } from '../objects/without-undefined.js';

/**
 * RFC 9457 problem details: every non-2xx answer of the app. Types are relative URIs documented
 * in the README's troubleshooting table; titles are short and stable, details say what to do.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  correlationId: string;
  /** Set where Partner Center was involved: what a support ticket needs. */
  upstream?: { status?: number; code?: string; description?: string; requestId?: string };
  /** Field-level validation messages, for 400s. */
  errors?: string[];
}

/** A response in the shape @azure/functions' HttpResponseInit accepts, without depending on it. */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  jsonBody?: unknown;
  body?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const problemTypes = {
  invalidRequest: { type: '/problems/invalid-request', title: 'The request is not valid', status: 400 },
  unauthorized: { type: '/problems/unauthorized', title: 'Authentication is required', status: 401 },
  forbidden: { type: '/problems/forbidden', title: 'The caller may not do this', status: 403 },
  notFound: { type: '/problems/not-found', title: 'Not found', status: 404 },
  batchNotFound: {
    type: '/problems/batch-not-found',
    title: 'Partner Center knows no such batch',
    status: 404,
  },
  methodNotAllowed: { type: '/problems/method-not-allowed', title: 'Method not allowed', status: 405 },
  unsupportedMediaType: {
    type: '/problems/unsupported-media-type',
    title: 'The body must be JSON',
    status: 415,
  },
  payloadTooLarge: {
    type: '/problems/payload-too-large',
    title: 'The request body is too large',
    status: 413,
  },
  upstreamThrottled: {
    type: '/problems/upstream-throttled',
    title: 'Partner Center is throttling requests',
    status: 503,
  },
  upstreamAuthorization: {
    type: '/problems/upstream-authorization',
    title: "Partner Center refused the app's credential",
    status: 502,
  },
  credentialUnavailable: {
    type: '/problems/credential-unavailable',
    title: 'The app could not obtain its Partner Center credential',
    status: 502,
  },
  consentRequired: {
    type: '/problems/consent-required',
    title: 'An admin must consent again (App+User credential)',
    status: 502,
  },
  upstreamError: { type: '/problems/upstream-error', title: 'Partner Center failed', status: 502 },
  upstreamInvalidResponse: {
    type: '/problems/upstream-invalid-response',
    title: 'Partner Center sent an answer the app cannot read',
    status: 502,
  },
  upstreamUnreachable: {
    type: '/problems/upstream-unreachable',
    title: 'Partner Center could not be reached',
    status: 502,
  },
  upstreamTimeout: {
    type: '/problems/upstream-timeout',
    title: 'Partner Center did not answer in time',
    status: 504,
  },
  storageUnavailable: {
    type: '/problems/storage-unavailable',
    title: 'Tracking storage is unavailable',
    status: 503,
  },
  unhealthy: {
    type: '/problems/unhealthy',
    title: 'A dependency of the app is unhealthy',
    status: 503,
  },
  callerAuthUnavailable: {
    type: '/problems/caller-auth-unavailable',
    title: 'Caller authentication is temporarily unavailable',
    status: 503,
  },
  misconfigured: { type: '/problems/misconfigured', title: 'The app is misconfigured', status: 500 },
  internal: { type: '/problems/internal', title: 'Unexpected error', status: 500 },
} as const;

export type ProblemKind = keyof typeof problemTypes;

export interface ProblemInit {
  detail: string;
  correlationId: string;
  upstream?: Problem['upstream'];
  errors?: string[];
  /** Overrides the kind's status where one kind spans several (never used to invent new ones). */
  status?: number;
}

export function problem(kind: ProblemKind, init: ProblemInit): Problem {
  const base = problemTypes[kind];
  return {
    type: base.type,
    title: base.title,
    status: init.status ?? base.status,
    detail: init.detail,
    correlationId: init.correlationId,
    ...(init.upstream ? { upstream: withoutUndefined(init.upstream) } : {}),
    ...(init.errors?.length ? { errors: init.errors } : {}),
  };
}

export function problemResult(value: Problem, headers: Record<string, string> = {}): HttpResult {
  return {
    status: value.status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, 'Cache-Control': 'no-store', ...headers },
    jsonBody: value,
  };
}
