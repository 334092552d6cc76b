import { randomUUID } from 'node:crypto';
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  isRestError,
  type Pipeline,
  type PipelineResponse,
  type PipelineRetryOptions,
  RestError,
} from '@azure/core-rest-pipeline';
import { PARTNER_CENTER_DEFAULTS } from '../config/partner-center-settings.js';
import { CredentialError } from '../credentials/app-credential.js';
import { withoutUndefined } from '../objects/without-undefined.js';
import { PartnerCenterError, parseErrorBody } from './errors.js';
import {
  type BatchStatusReader,
  type BatchStatusResponse,
  batchUploadDetailsSchema,
  type GetBatchStatusOptions,
  isGuid,
} from './model.js';
import {
  createPartnerCenterPipeline,
  type PartnerCenterPipelineSettings,
  type RotatableCredential,
  type ThrottleObserver,
} from './pipeline.js';
import {
  ATTEMPT_TIMEOUT_CODE,
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
  /** Called on every 429 attempt as it arrives (the partner-wide budget). */
  onThrottled?: ThrottleObserver;
}

export interface UpstreamCallInfo {
  status?: number;
  durationMs: number;
  requestId: string;
  correlationId: string;
  failure?: string;
}

/**
 * Partner Center's "get the status of a device batch upload", shaped like an Azure SDK client:
 * transport concerns (auth, retry, throttling, timeouts, headers, concurrency, body limits) are
 * pipeline policies; the operation itself only builds the request and reads the answer.
 */
export class PartnerCenterClient implements BatchStatusReader {
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly settings: PartnerCenterPipelineSettings;

  constructor(
    private readonly endpoint: string,
    credential: RotatableCredential,
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
    this.pipeline = createPartnerCenterPipeline(this.settings, credential, options.onThrottled);
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
    const deadline = new CallDeadline(this.settings.deadlineMs, options.abortSignal);
    const abortSignal = deadline.signal;
    const started = performance.now();
    const budget = {
      deadline: Date.now() + this.settings.deadlineMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? this.settings.maxRetryAfterMs,
      priority: options.priority ?? 'caller',
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
    } finally {
      deadline.dispose();
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
    deadline: CallDeadline,
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
    if (deadline.timedOut) {
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
}

/**
 * The overall deadline of one call, joined with the caller's signal. Not `AbortSignal.timeout` +
 * `AbortSignal.any`: their timer cannot be cancelled, so every finished call (and the request,
 * response and invocation its listeners reach) stayed alive until the timer fired, 25 s later;
 * under load that kept thousands of finished invocations in old space.
 */
class CallDeadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private expired = false;
  private readonly onCallerAbort: () => void;

  constructor(
    readonly ms: number,
    private readonly callerSignal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new DOMException(`The call took longer than ${ms} ms`, 'TimeoutError'));
    }, ms);
    this.onCallerAbort = () => this.controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) this.onCallerAbort();
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get timedOut(): boolean {
    return this.expired;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof RestError) return error.code ? `${error.code}: ${error.message}` : error.message;
  return error instanceof Error ? error.message : String(error);
}
