import { randomUUID } from 'node:crypto';
import { isRestError } from '@azure/core-rest-pipeline';
import { CallerAuthError, CallerAuthUnavailableError } from '../auth/errors.js';
import { SettingsError } from '../config/settings.js';
import { CredentialError } from '../credentials/app-credential.js';
import { describeError } from '../diagnostics/describe-error.js';
import type { Log } from '../diagnostics/log.js';
import { isPartnerCenterError, type PartnerCenterError } from '../partner-center/errors.js';
import { isGuid } from '../partner-center/model.js';
import { StorageConfigurationError } from '../storage/clients.js';
import { correlatedInvocation, type HostInvocation } from '../telemetry/invocation-log.js';
import type { InvocationScope } from '../telemetry/invocation-scope.js';
import type { RequestFailure } from '../telemetry/reporter.js';
import { TrackingNotFoundError, ValidationError } from '../trackings/errors.js';
import { type HttpResult, type Problem, type ProblemKind, problem, problemResult } from './problem.js';

/** What an endpoint needs of an HTTP request; @azure/functions' HttpRequest fits it as is. */
export interface HttpCall {
  readonly method: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  readonly params: Record<string, string | undefined>;
  readonly query: URLSearchParams;
  text(): Promise<string>;
}

/** A failure the caller caused or can act on, raised by domain code and answered as problem+json. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly kind: ProblemKind,
    detail: string,
    readonly errors: string[] = [],
    /** Headers the answer carries, such as `Allow` on a 405. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
  }
}

export interface EndpointContext {
  correlationId: string;
  /** The invocation's log, every line with the correlation id. */
  log: Log;
}

export interface EndpointOptions {
  /** Checks the caller before the handler runs (Entra ID bearer tokens, when configured). */
  authorize?: (call: HttpCall) => Promise<unknown>;
  /** Correlates the invocation's telemetry and counts failed requests (see shared/telemetry). */
  telemetry?: EndpointTelemetry;
}

/** What an endpoint asks of telemetry. */
export interface EndpointTelemetry {
  runInvocation<T>(scope: InvocationScope, work: () => Promise<T>): Promise<T>;
  requestFailed(failure: RequestFailure): void;
}

const CORRELATION_HEADERS = ['ms-correlationid', 'x-correlation-id'];

/**
 * The caller's correlation id when it is a GUID (what Partner Center accepts), else a new one.
 * A malformed id is not worth refusing a request over: the echoed header shows the one used.
 */
export function resolveCorrelationId(headers: HttpCall['headers']): string {
  for (const name of CORRELATION_HEADERS) {
    const value = headers.get(name)?.trim();
    if (value && isGuid(value)) return value.toLowerCase();
  }
  return randomUUID();
}

/**
 * Runs one HTTP endpoint: correlation id in and out, and every failure turned into problem+json.
 * Unexpected errors become a 500 whose body says nothing of the cause; the cause is logged.
 */
export async function runHttpEndpoint(
  call: HttpCall,
  host: HostInvocation,
  handler: (context: EndpointContext) => Promise<HttpResult>,
  options: EndpointOptions = {},
): Promise<HttpResult> {
  const correlationId = resolveCorrelationId(call.headers);
  const invocation = correlatedInvocation(host, correlationId);
  const { telemetry } = options;
  const respond = async (): Promise<HttpResult> => {
    try {
      await options.authorize?.(call);
      return await handler({ correlationId, log: invocation.log });
    } catch (error) {
      const answer = problemFor(error, correlationId);
      logFailure(invocation.log, answer, error);
      telemetry?.requestFailed({
        functionName: host.functionName,
        status: answer.status,
        problemType: answer.type,
        upstreamStatus: answer.upstream?.status,
        upstreamCode: answer.upstream?.code,
      });
      return problemResult(answer, {
        ...retryAfterHeader(error),
        ...callerAuthHeaders(error),
        ...(error instanceof RequestError ? error.headers : {}),
      });
    }
  };
  const result = telemetry ? await telemetry.runInvocation(invocation, respond) : await respond();
  return { ...result, headers: { ...result.headers, 'MS-CorrelationId': correlationId } };
}

export function problemFor(error: unknown, correlationId: string): Problem {
  if (error instanceof RequestError || error instanceof CallerAuthError) {
    const errors = error instanceof RequestError ? error.errors : [];
    return problem(error.kind, { detail: error.message, correlationId, errors });
  }
  if (error instanceof ValidationError) {
    const errors = error.problems.map((p) => `${p.field}: ${p.message}`);
    return problem('invalidRequest', { detail: error.message, correlationId, errors });
  }
  if (error instanceof TrackingNotFoundError) {
    return problem('notFound', { detail: error.message, correlationId });
  }
  if (isPartnerCenterError(error)) return upstreamProblem(error, correlationId);
  if (error instanceof CredentialError) return credentialProblem(error, correlationId);
  if (error instanceof CallerAuthUnavailableError) {
    return problem('callerAuthUnavailable', {
      detail: `The app could not fetch Microsoft Entra ID signing keys to check your token. Retry after ${error.retryAfterSeconds} seconds.`,
      correlationId,
    });
  }
  if (error instanceof SettingsError || error instanceof StorageConfigurationError) {
    const problems = error instanceof SettingsError ? error.problems : [error.message];
    return problem('misconfigured', {
      detail: `The app's settings are invalid: ${problems.join('; ')}. An operator must fix them.`,
      correlationId,
    });
  }
  if (isStorageFailure(error)) {
    return problem('storageUnavailable', {
      detail: 'Tracking storage did not answer. Retry later; nothing was lost.',
      correlationId,
    });
  }
  return problem('internal', {
    detail: `Something unexpected went wrong. Quote correlation id ${correlationId} when reporting it.`,
    correlationId,
  });
}

function upstreamProblem(error: PartnerCenterError, correlationId: string): Problem {
  const upstream = {
    status: error.statusCode,
    code: error.code,
    description: error.description,
    requestId: error.requestId,
  };
  const withUpstream = (kind: ProblemKind, detail: string) =>
    problem(kind, { detail, correlationId, upstream });
  switch (error.failure) {
    case 'throttled':
      return withUpstream(
        'upstreamThrottled',
        `Partner Center is throttling this partner's requests. Retry after ${retryAfterSeconds(error)} seconds.`,
      );
    case 'timeout':
      return withUpstream('upstreamTimeout', `${error.message}. Retry later.`);
    case 'network':
      return withUpstream('upstreamUnreachable', `${error.message}. Retry later.`);
    case 'invalid_response':
      return withUpstream('upstreamInvalidResponse', error.message);
    case 'credential':
      return error.cause instanceof CredentialError
        ? credentialProblem(error.cause, correlationId)
        : problem('credentialUnavailable', { detail: error.message, correlationId });
    case 'http':
      if (error.statusCode === 404) {
        return withUpstream(
          'batchNotFound',
          'Partner Center has no batch with this tracking id for this customer (or it is not visible yet). Check both ids.',
        );
      }
      if (error.isMissingMfa) {
        return withUpstream(
          'consentRequired',
          "Partner Center refused the App+User token: the admin's sign-in behind the refresh token had no MFA, which Partner Center requires. An admin of the partner tenant must sign in again with MFA: run 'npm run consent' (README, \"App+User credentials\").",
        );
      }
      if (error.statusCode === 401 || error.statusCode === 403) {
        return withUpstream(
          'upstreamAuthorization',
          `Partner Center refused the app's credential (${error.statusCode}). An operator must check the app registration, its Partner Center role (Admin agent or Sales agent) and the secret in Key Vault.`,
        );
      }
      return withUpstream('upstreamError', `${error.message}. The caller did nothing wrong; retry later.`);
  }
}

/** The app's own credential failed: an admin's new consent (App+User), or an operator's fix. */
function credentialProblem(error: CredentialError, correlationId: string): Problem {
  return problem(error.stage === 'consent' ? 'consentRequired' : 'credentialUnavailable', {
    detail: error.message,
    correlationId,
  });
}

function retryAfterSeconds(error: PartnerCenterError): number {
  return Math.max(1, Math.ceil((error.retryAfterMs ?? 30_000) / 1000));
}

/**
 * Response headers for a caller-authentication failure: `WWW-Authenticate` for a 401/403,
 * `Retry-After` for an unavailable key set, else none.
 */
export function callerAuthHeaders(error: unknown): Record<string, string> {
  if (error instanceof CallerAuthUnavailableError) {
    return { 'Retry-After': String(error.retryAfterSeconds) };
  }
  if (error instanceof CallerAuthError) return { 'WWW-Authenticate': error.wwwAuthenticate };
  return {};
}

function retryAfterHeader(error: unknown): Record<string, string> {
  if (isPartnerCenterError(error) && error.failure === 'throttled') {
    return { 'Retry-After': String(retryAfterSeconds(error)) };
  }
  if (isStorageFailure(error)) return { 'Retry-After': '5' };
  return {};
}

/** Storage SDK failures without an HTTP answer, or 5xx from the service. */
function isStorageFailure(error: unknown): boolean {
  if (!isRestError(error)) return false;
  return error.statusCode === undefined || error.statusCode >= 500;
}

function logFailure(log: Log, answer: Problem, error: unknown): void {
  const summary = `${answer.status} ${answer.type}`;
  if (answer.status >= 500 && answer.type === '/problems/internal') {
    // Name and message only: SDK errors can carry request objects with headers.
    log.error(`${summary}: ${describeError(error)}`);
  } else if (answer.status >= 500) {
    log.warn(`${summary}: ${answer.detail}`);
  } else {
    log.info(summary);
  }
}
