import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  isRestError,
  type Pipeline,
  type PipelineResponse,
  type PipelineRetryOptions,
  RestError,
  retryPolicy,
  tracingPolicy,
  userAgentPolicy,
} from '@azure/core-rest-pipeline';
import { PARTNER_CENTER_DEFAULTS } from '../config/settings.js';
import { CredentialError } from '../credentials/app-credential.js';
import { withoutUndefined } from '../objects/without-undefined.js';
import { PartnerCenterError, saysMfaMissing } from './errors.js';
import {
  type BatchStatusReader,
  type BatchStatusResponse,
  batchUploadDetailsSchema,
  type GetBatchStatusOptions,
  isGuid,
} from './model.js';
import {
  ATTEMPT_TIMEOUT_CODE,
  attemptTimeoutPolicy,
  boundedBodyPolicy,
  concurrencyLimitPolicy,
  partnerCenterHeadersPolicy,
  partnerCenterRetryStrategy,
  RESPONSE_TOO_LARGE_CODE,
  retryAfterFrom,
  setRequestBudget,
} from './policies.js';

export interface PartnerCenterClientOptions {
  /** Token scope; Partner Center app-only calls use `https://api.partnercenter.microsoft.com/.default`. */
  scope?: string;
  locale?: string;
  applicationName?: string;
  /** The core pipeline's retry options (`maxRetries`, `retryDelayInMs`, `maxRetryDelayInMs`). */
  retryOptions?: PipelineRetryOptions;
  attemptTimeoutMs?: number;
  /** Overall budget for one call, retries included. */
  deadlineMs?: number;
  /** Longest Retry-After waited out inside one call (per-call override in GetBatchStatusOptions). */
  maxRetryAfterMs?: number;
  maxConcurrentCalls?: number;
  maxResponseBytes?: number;
  /** Replaces the default HTTP client (tests, benchmarks). */
  httpClient?: HttpClient;
  /** Called with the upstream diagnostics of every completed call (telemetry). */
  onResponse?: (info: UpstreamCallInfo) => void;
}

export interface UpstreamCallInfo {
  status?: number;
  durationMs: number;
  requestId: string;
  correlationId: string;
  failure?: string;
}

/** A credential the client can tell to forget its material when Partner Center rejects it. */
export interface RotatableCredential extends TokenCredential {
  invalidate?(): void;
  /** App+User: Partner Center refused the consent itself (no MFA); only a new consent helps. */
  consentRefused?(reason: string): void;
}

/**
 * Partner Center's "get the status of a device batch upload", shaped like an Azure SDK client:
 * transport concerns (auth, retry, throttling, timeouts, headers, concurrency, body limits) are
 * pipeline policies; the operation itself only builds the request and reads the answer.
 */
export class PartnerCenterClient implements BatchStatusReader {
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly settings: Omit<typeof PARTNER_CENTER_DEFAULTS, 'baseUrl'>;

  constructor(
    private readonly endpoint: string,
    private readonly credential: RotatableCredential,
    private readonly options: PartnerCenterClientOptions = {},
  ) {
    this.settings = {
      ...PARTNER_CENTER_DEFAULTS,
      ...withoutUndefined({
        scope: options.scope,
        locale: options.locale,
        applicationName: options.applicationName,
        maxRetries: options.retryOptions?.maxRetries,
        retryDelayInMs: options.retryOptions?.retryDelayInMs,
        maxRetryDelayInMs: options.retryOptions?.maxRetryDelayInMs,
        attemptTimeoutMs: options.attemptTimeoutMs,
        deadlineMs: options.deadlineMs,
        maxRetryAfterMs: options.maxRetryAfterMs,
        maxConcurrentCalls: options.maxConcurrentCalls,
        maxResponseBytes: options.maxResponseBytes,
      }),
    };
    this.endpoint = endpoint.replace(/\/+$/, '');
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    this.pipeline = this.buildPipeline();
  }

  /**
   * `GET /v1/customers/{customerId}/batchJobStatus/{trackingId}`: the upstream body with its raw
   * status string and every field preserved. Fails with PartnerCenterError only.
   */
  async getBatchStatus(
    customerId: string,
    trackingId: string,
    options: GetBatchStatusOptions = {},
  ): Promise<BatchStatusResponse> {
    if (!isGuid(customerId) || !isGuid(trackingId)) {
      throw new TypeError('customerId and trackingId must be GUIDs');
    }
    const correlationId = options.correlationId ?? randomUUID();
    const requestId = randomUUID();
    const url = `${this.endpoint}/v1/customers/${encodeURIComponent(customerId)}/batchJobStatus/${encodeURIComponent(trackingId)}`;
    const deadline = AbortSignal.timeout(this.settings.deadlineMs);
    const abortSignal = options.abortSignal ? AbortSignal.any([deadline, options.abortSignal]) : deadline;
    const started = performance.now();
    const budget = {
      deadline: Date.now() + this.settings.deadlineMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? this.settings.maxRetryAfterMs,
    };
    const context = { requestId, correlationId };

    let response: PipelineResponse | undefined;
    try {
      response = await this.send(url, budget, abortSignal, context);
      const result = this.readResponse(response, context);
      this.report(started, context, response.status);
      return result;
    } catch (error) {
      const failure = this.toPartnerCenterError(error, context, deadline, options.abortSignal);
      this.report(started, context, failure?.statusCode ?? response?.status, failure?.failure ?? 'aborted');
      throw failure ?? error;
    }
  }

  private send(
    url: string,
    budget: { deadline: number; maxRetryAfterMs: number },
    abortSignal: AbortSignal,
    context: { requestId: string; correlationId: string },
  ): Promise<PipelineResponse> {
    const request = createPipelineRequest({
      url,
      method: 'GET',
      abortSignal,
      // Also the dependency's `requestId` in telemetry: it then matches the MS-RequestId sent.
      requestId: context.requestId,
      headers: createHttpHeaders({
        'MS-RequestId': context.requestId,
        'MS-CorrelationId': context.correlationId,
      }),
    });
    setRequestBudget(request, budget);
    return this.pipeline.sendRequest(this.httpClient, request);
  }

  private readResponse(
    response: PipelineResponse,
    context: { requestId: string; correlationId: string },
  ): BatchStatusResponse {
    const diagnostics = {
      requestId: response.headers.get('ms-requestid') ?? context.requestId,
      correlationId: response.headers.get('ms-correlationid') ?? context.correlationId,
      cv: response.headers.get('ms-cv') ?? undefined,
    };
    if (response.status === 200) {
      let json: unknown;
      try {
        json = JSON.parse(response.bodyAsText ?? '');
      } catch {
        throw new PartnerCenterError('Partner Center answered 200 with a body that is not JSON', {
          failure: 'invalid_response',
          statusCode: 200,
          ...diagnostics,
        });
      }
      const parsed = batchUploadDetailsSchema.safeParse(json);
      if (!parsed.success) {
        throw new PartnerCenterError(
          `Partner Center answered 200 with an unexpected shape: ${parsed.error.issues
            .slice(0, 3)
            .map((i) => `${i.path.join('.') || 'body'} ${i.message}`)
            .join('; ')}`,
          { failure: 'invalid_response', statusCode: 200, ...diagnostics },
        );
      }
      return { details: parsed.data, rawBody: response.bodyAsText ?? '', ...diagnostics };
    }

    const body = parseErrorBody(response.bodyAsText ?? undefined);
    const retryAfterMs = retryAfterFrom(response);
    if (response.status === 429) {
      throw new PartnerCenterError(
        `Partner Center is throttling requests${retryAfterMs !== undefined ? `; retry after ${Math.ceil(retryAfterMs / 1000)} s` : ''}`,
        { failure: 'throttled', statusCode: 429, retryAfterMs, ...body, ...diagnostics },
      );
    }
    throw new PartnerCenterError(
      `Partner Center answered ${response.status}${body.code ? ` (${body.code})` : ''}${body.description ? `: ${body.description}` : ''}`,
      { failure: 'http', statusCode: response.status, retryAfterMs, ...body, ...diagnostics },
    );
  }

  private toPartnerCenterError(
    error: unknown,
    context: { requestId: string; correlationId: string },
    deadline: AbortSignal,
    callerSignal: AbortSignal | undefined,
  ): PartnerCenterError | undefined {
    if (error instanceof PartnerCenterError) return error;
    if (error instanceof CredentialError) {
      return new PartnerCenterError(`The app could not authenticate to Partner Center: ${error.message}`, {
        failure: 'credential',
        cause: error,
        ...context,
      });
    }
    if (deadline.aborted) {
      return new PartnerCenterError(`Partner Center did not answer within ${this.settings.deadlineMs} ms`, {
        failure: 'timeout',
        cause: error,
        ...context,
      });
    }
    if (callerSignal?.aborted) return undefined;
    if (isRestError(error) && error.code === ATTEMPT_TIMEOUT_CODE) {
      // The last attempt timed out and no retry fitted before the deadline: too slow, not unreachable.
      return new PartnerCenterError(
        `Partner Center did not answer in time (each attempt waits ${this.settings.attemptTimeoutMs} ms, all within ${this.settings.deadlineMs} ms)`,
        { failure: 'timeout', cause: error, ...context },
      );
    }
    if (isRestError(error) && error.code === RESPONSE_TOO_LARGE_CODE) {
      return new PartnerCenterError(error.message, {
        failure: 'invalid_response',
        statusCode: error.statusCode,
        cause: error,
        ...context,
      });
    }
    return new PartnerCenterError(`Partner Center could not be reached: ${describeNetworkError(error)}`, {
      failure: 'network',
      cause: error,
      ...context,
    });
  }

  private report(
    started: number,
    context: { requestId: string; correlationId: string },
    status?: number,
    failure?: string,
  ) {
    this.options.onResponse?.({
      status,
      failure,
      durationMs: performance.now() - started,
      requestId: context.requestId,
      correlationId: context.correlationId,
    });
  }

  private buildPipeline(): Pipeline {
    const s = this.settings;
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(userAgentPolicy({ userAgentPrefix: s.applicationName }));
    pipeline.addPolicy(partnerCenterHeadersPolicy({ locale: s.locale, applicationName: s.applicationName }));
    pipeline.addPolicy(
      retryPolicy(
        [
          partnerCenterRetryStrategy({
            retryDelayInMs: s.retryDelayInMs,
            maxRetryDelayInMs: s.maxRetryDelayInMs,
          }),
        ],
        { maxRetries: s.maxRetries },
      ),
      { phase: 'Retry' },
    );
    pipeline.addPolicy(attemptTimeoutPolicy(s.attemptTimeoutMs), { afterPhase: 'Retry' });
    pipeline.addPolicy(concurrencyLimitPolicy(s.maxConcurrentCalls), { afterPhase: 'Retry' });
    pipeline.addPolicy(this.createAuthPolicy(), { phase: 'Sign' });
    pipeline.addPolicy(boundedBodyPolicy(s.maxResponseBytes), { afterPhase: 'Sign' });
    // One span per attempt, as in every Azure SDK client: a dependency in Application Insights when
    // telemetry is on (it sets @azure/core-tracing's instrumenter), a no-op otherwise.
    pipeline.addPolicy(tracingPolicy({ userAgentPrefix: s.applicationName }), { afterPhase: 'Sign' });
    return pipeline;
  }

  /**
   * The bearer-token policy caches the token and merges concurrent refreshes, so 100 cold calls ask
   * Entra once. A 401 challenge with a token we believed valid means the credential was rotated or
   * revoked: the challenge callback has the credential re-read the vault and the policy resend the
   * attempt once, as the same logical request (same MS-RequestId). A 401 for missing MFA is not
   * resent (no token from the same consent can have it): the credential hears that its consent was
   * refused, and the next call starts from a fresh token. The policy's token cache only refetches
   * for a claims challenge, so the callbacks ask with marker claims that the credential wrapper
   * below acts on and never passes on.
   */
  private createAuthPolicy() {
    const credential = this.credential;
    let stale = false;
    const tokens: TokenCredential = {
      getToken: (scopes, options) => {
        if (options?.claims !== ROTATE_CLAIM && options?.claims !== REFETCH_CLAIM) {
          return credential.getToken(scopes, options);
        }
        if (options.claims === ROTATE_CLAIM) credential.invalidate?.();
        const { claims: _marker, ...rest } = options;
        return credential.getToken(scopes, rest);
      },
    };
    return bearerTokenAuthenticationPolicy({
      credential: tokens,
      scopes: this.settings.scope,
      challengeCallbacks: {
        authorizeRequest: async ({ request, scopes, getAccessToken }) => {
          const refetch = stale;
          stale = false;
          const token = await getAccessToken(scopes, {
            abortSignal: request.abortSignal,
            ...(refetch ? { claims: REFETCH_CLAIM } : {}),
          });
          if (token) request.headers.set('Authorization', `Bearer ${token.token}`);
        },
        authorizeRequestOnChallenge: async ({ request, response, scopes, getAccessToken }) => {
          if (saysMfaMissing(parseErrorBody(response.bodyAsText ?? undefined))) {
            if (credential.consentRefused) {
              credential.consentRefused("Partner Center refuses its tokens: the admin's sign-in had no MFA");
              stale = true;
            }
            return false;
          }
          if (!credential.invalidate) return false;
          const token = await getAccessToken(scopes, {
            claims: ROTATE_CLAIM,
            abortSignal: request.abortSignal,
          });
          if (!token) return false;
          request.headers.set('Authorization', `Bearer ${token.token}`);
          return true;
        },
      },
    });
  }
}

/** Internal markers (never sent to Entra): "the token was refused, re-read the credential", "drop the cached token". */
const ROTATE_CLAIM = 'device-batch-status:rotate-credential';
const REFETCH_CLAIM = 'device-batch-status:refetch-token';

interface UpstreamErrorBody {
  code?: string;
  description?: string;
}

/** Partner Center has two error bodies: `{ code, description }` and, for 429, `{ statusCode, message }`. */
function parseErrorBody(text: string | undefined): UpstreamErrorBody {
  if (!text) return {};
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const code = json.code ?? json.statusCode ?? (json.error as Record<string, unknown> | undefined)?.code;
    const description =
      json.description ?? json.message ?? (json.error as Record<string, unknown> | undefined)?.message;
    return {
      code: code === undefined ? undefined : String(code).slice(0, 100),
      description: typeof description === 'string' ? description.slice(0, 1024) : undefined,
    };
  } catch {
    return {};
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof RestError) return error.code ? `${error.code}: ${error.message}` : error.message;
  return error instanceof Error ? error.message : String(error);
}
