import type { Readable } from 'node:stream';
import {
  type PipelinePolicy,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
  type RetryStrategy,
} from '@azure/core-rest-pipeline';
import pLimit from 'p-limit';
import type { CallPriority } from './model.js';

/** Per-request facts the retry strategy needs; the pipeline's strategy API only sees the request. */
export interface RequestBudget {
  /** Epoch ms after which no retry may start. */
  deadline: number;
  /** Longest Retry-After this request is willing to wait out. */
  maxRetryAfterMs: number;
  priority?: CallPriority;
}

const budgets = new WeakMap<PipelineRequest, RequestBudget>();

export function setRequestBudget(request: PipelineRequest, budget: RequestBudget): void {
  budgets.set(request, budget);
}

export interface PartnerCenterHeaderOptions {
  locale: string;
  applicationName: string;
}

/**
 * The Partner Center headers every call carries. MS-RequestId and MS-CorrelationId are the call's
 * own: the client sets them on the request before the pipeline, once per logical request, so every
 * retry carries the same MS-RequestId (Partner Center's idempotency key).
 */
export function partnerCenterHeadersPolicy(options: PartnerCenterHeaderOptions): PipelinePolicy {
  return {
    name: 'partnerCenterHeadersPolicy',
    sendRequest(request, next) {
      const headers = request.headers;
      headers.set('Accept', 'application/json');
      headers.set('X-Locale', options.locale);
      headers.set('MS-PartnerCenter-Application', options.applicationName);
      return next(request);
    },
  };
}

/** Limits concurrent attempts per process (placed after the retry policy: a waiting retry holds no slot). */
export function concurrencyLimitPolicy(maxConcurrent: number): PipelinePolicy {
  const limit = pLimit(maxConcurrent);
  return {
    name: 'concurrencyLimitPolicy',
    sendRequest: (request, next) => limit(() => next(request)),
  };
}

/**
 * Tells `onThrottled` of every 429 attempt, retried or not, as it arrives: the budget shared with
 * the sweep must hear of a caller's 429 at once, not after the caller has waited it out.
 */
export function throttleObserverPolicy(
  onThrottled: (retryAfterMs: number | undefined, priority: CallPriority) => void,
): PipelinePolicy {
  return {
    name: 'throttleObserverPolicy',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status === 429) {
        onThrottled(retryAfterFrom(response), budgets.get(request)?.priority ?? 'caller');
      }
      return response;
    },
  };
}

export const ATTEMPT_TIMEOUT_CODE = 'ETIMEDOUT';

/**
 * A timeout per attempt, covering the response body too. The core HTTP client's own `timeout`
 * only covers the wait for headers and surfaces as an AbortError the retry policy never retries;
 * this one surfaces as a retriable ETIMEDOUT RestError while the overall deadline still aborts.
 */
export function attemptTimeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: 'attemptTimeoutPolicy',
    async sendRequest(request, next) {
      const outer = request.abortSignal;
      const attempt = new AbortController();
      const timer = setTimeout(() => attempt.abort(), timeoutMs);
      const onOuterAbort = () => attempt.abort();
      outer?.addEventListener('abort', onOuterAbort, { once: true });
      if (outer?.aborted) attempt.abort();
      request.abortSignal = attempt.signal;
      try {
        return await next(request);
      } catch (error) {
        if (attempt.signal.aborted && !outer?.aborted) {
          throw new RestError(`Partner Center did not answer within ${timeoutMs} ms`, {
            code: ATTEMPT_TIMEOUT_CODE,
            request,
          });
        }
        throw error;
      } finally {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuterAbort);
        request.abortSignal = outer;
      }
    },
  };
}

export const RESPONSE_TOO_LARGE_CODE = 'RESPONSE_TOO_LARGE';

/**
 * Streams every response and reads at most `maxBytes` of it: a giant or endless upstream body
 * must not take the process down (the core client would otherwise buffer it whole).
 */
export function boundedBodyPolicy(maxBytes: number): PipelinePolicy {
  return {
    name: 'boundedBodyPolicy',
    async sendRequest(request, next) {
      request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
      const response = await next(request);
      const stream = response.readableStreamBody as Readable | undefined;
      response.readableStreamBody = undefined;
      if (stream) response.bodyAsText = await readBounded(stream, maxBytes, response);
      return response;
    },
  };
}

async function readBounded(stream: Readable, maxBytes: number, response: PipelineResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      total += buffer.length;
      if (total > maxBytes) {
        throw new RestError(`Partner Center's response exceeded ${maxBytes} bytes`, {
          code: RESPONSE_TOO_LARGE_CODE,
          statusCode: response.status,
          request: response.request,
        });
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof RestError || (error as Error).name === 'AbortError') throw error;
    // A connection dropped mid-body is as transient as one dropped before the headers.
    throw new RestError(`Reading Partner Center's response failed: ${(error as Error).message}`, {
      code: (error as { code?: string }).code ?? RestError.REQUEST_SEND_ERROR,
      request: response.request,
    });
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

const TRANSIENT_ERROR_CODES = new Set([
  ATTEMPT_TIMEOUT_CODE,
  'ESOCKETTIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  RestError.REQUEST_SEND_ERROR,
]);

export interface RetryDelayOptions {
  retryDelayInMs: number;
  maxRetryDelayInMs: number;
  random?: () => number;
  now?: () => number;
}

/**
 * One retry strategy for Partner Center, run by the core pipeline's retry policy:
 * - 429 (or 503 with Retry-After): wait exactly Retry-After, if the request's budget allows;
 *   otherwise hand the response back, so the caller sees "throttled" with the time to come back.
 * - 5xx, 408 and network errors: exponential backoff with jitter.
 * - Never a retry that would start after the request's deadline.
 */
export function partnerCenterRetryStrategy(options: RetryDelayOptions): RetryStrategy {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  return {
    name: 'partnerCenterRetryStrategy',
    retry({ retryCount, response, responseError }) {
      const request = response?.request ?? responseError?.request;
      const budget = request ? budgets.get(request) : undefined;
      const remaining = budget ? budget.deadline - now() : Number.POSITIVE_INFINITY;

      const retryAfterMs = response ? retryAfterFrom(response) : undefined;
      if (response && retryAfterMs !== undefined && (response.status === 429 || response.status === 503)) {
        const allowed = Math.min(budget?.maxRetryAfterMs ?? Number.POSITIVE_INFINITY, remaining);
        return retryAfterMs <= allowed ? { retryAfterInMs: retryAfterMs } : { skipStrategy: true };
      }
      if (response?.status === 429) return { skipStrategy: true };

      const transientStatus =
        response !== undefined &&
        (response.status >= 500 || response.status === 408) &&
        response.status !== 501 &&
        response.status !== 505;
      const transientError =
        !response && responseError?.code !== undefined && TRANSIENT_ERROR_CODES.has(responseError.code);
      if (!transientStatus && !transientError) return { skipStrategy: true };

      const exponential = Math.min(options.maxRetryDelayInMs, options.retryDelayInMs * 2 ** retryCount);
      const delay = exponential / 2 + random() * (exponential / 2);
      return delay < remaining ? { retryAfterInMs: delay } : { skipStrategy: true };
    },
  };
}

/** Retry-After in seconds or as an HTTP date; also the millisecond variants Azure services send. */
export function retryAfterFrom(response: PipelineResponse, now: () => number = Date.now): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = Number(response.headers.get(name));
    if (response.headers.has(name) && Number.isFinite(value) && value >= 0) return value;
  }
  const header = response.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  if (/^\d+(\.\d+)?$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - now()) : undefined;
}
