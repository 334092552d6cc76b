import { Readable } from 'node:stream';
import {
  createHttpHeaders,
  createPipelineRequest,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
} from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { parseErrorBody } from '../../../shared/partner-center/errors.js';
import {
  ATTEMPT_TIMEOUT_CODE,
  attemptTimeoutPolicy,
  boundedBodyPolicy,
  partnerCenterRetryStrategy,
  RESPONSE_TOO_LARGE_CODE,
  retryAfterFrom,
} from '../../../shared/partner-center/policies.js';
import { rejectionOf } from '../../support/rejection.js';

// The edges of the per-attempt policies and the retry decisions that policies.test.ts leaves out:
// exact sizes, odd headers, aborts from either side, and bodies that fail half way.

const NOW = 1_000_000;
const request = (): PipelineRequest => createPipelineRequest({ url: 'https://partner.example/v1/x' });
const response = (
  status: number,
  headers: Record<string, string> = {},
  req = request(),
): PipelineResponse => ({
  status,
  headers: createHttpHeaders(headers),
  request: req,
});
const strategy = () =>
  partnerCenterRetryStrategy({
    retryDelayInMs: 100,
    maxRetryDelayInMs: 1_000,
    random: () => 0,
    now: () => NOW,
  });

describe('the retry strategy, at its edges', () => {
  it('is named for the pipeline', () => {
    expect(strategy().name).toBe('partnerCenterRetryStrategy');
  });

  it('backs off on a 500 that carries Retry-After: only 429 and 503 are waited out', () => {
    expect(strategy().retry({ retryCount: 0, response: response(500, { 'retry-after': '9' }) })).toEqual({
      retryAfterInMs: 50,
    });
  });

  it('takes the answer’s status over a transient-looking error beside it', () => {
    const error = new RestError('reset', { code: 'ECONNRESET', request: request() });
    expect(strategy().retry({ retryCount: 0, response: response(400), responseError: error })).toEqual({
      skipStrategy: true,
    });
  });
});

describe('retryAfterFrom, at its edges', () => {
  const at = (headers: Record<string, string>) => retryAfterFrom(response(429, headers), () => NOW);

  it('reads fractional seconds to the millisecond, and skips millisecond headers that are no number', () => {
    expect(at({ 'retry-after': '1.25' })).toBe(1_250);
    expect(at({ 'retry-after-ms': 'Infinity', 'retry-after': '2' })).toBe(2_000);
    expect(at({ 'retry-after-ms': 'abc' })).toBeUndefined();
  });
});

/** A pipeline response whose body arrives as a stream, as the core HTTP client hands it over. */
function streamed(body: Readable, status = 200): (req: PipelineRequest) => Promise<PipelineResponse> {
  return async (req) => ({ ...response(status, {}, req), readableStreamBody: body });
}

describe('boundedBodyPolicy', () => {
  it('asks for every answer as a stream and reads a body of exactly the limit', async () => {
    const req = request();
    const answer = await boundedBodyPolicy(10).sendRequest(
      req,
      streamed(Readable.from([Buffer.from('0123456789')])),
    );
    expect(req.streamResponseStatusCodes).toEqual(new Set([Number.POSITIVE_INFINITY]));
    expect(answer.bodyAsText).toBe('0123456789');
    expect(answer.readableStreamBody).toBeUndefined();
  });

  it('refuses one byte more, with the status, and stops reading', async () => {
    const body = Readable.from([Buffer.from('01234'), Buffer.from('56789X'), Buffer.from('never read')]);
    const error = await rejectionOf(
      boundedBodyPolicy(10).sendRequest(request(), streamed(body, 203)),
      RestError,
    );
    expect(error.message).toBe("Partner Center's response exceeded 10 bytes");
    expect(error.code).toBe(RESPONSE_TOO_LARGE_CODE);
    expect(error.statusCode).toBe(203);
    expect(body.destroyed).toBe(true);
  });

  it('turns a body that fails half way into a retriable send error, keeping a network code', async () => {
    const failing = (error: Error) =>
      new Readable({
        read() {
          this.push('partial');
          this.destroy(error);
        },
      });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const withCode = await rejectionOf(
      boundedBodyPolicy(100).sendRequest(request(), streamed(failing(reset))),
      RestError,
    );
    expect(withCode.message).toBe("Reading Partner Center's response failed: socket hang up");
    expect(withCode.code).toBe('ECONNRESET');
    const withoutCode = await rejectionOf(
      boundedBodyPolicy(100).sendRequest(request(), streamed(failing(new Error('gone')))),
      RestError,
    );
    expect(withoutCode.code).toBe(RestError.REQUEST_SEND_ERROR);

    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    const aborted = await boundedBodyPolicy(100)
      .sendRequest(request(), streamed(failing(abort)))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(aborted).toBe(abort);
  });
});

/** A `next` that answers only when its attempt's signal aborts, with the AbortError fetch gives. */
const answersOnAbort = (seen: PipelineRequest['abortSignal'][]) => (req: PipelineRequest) =>
  new Promise<PipelineResponse>((_, reject) => {
    seen.push(req.abortSignal);
    const signal = req.abortSignal;
    const fail = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    if (signal?.aborted) fail();
    else signal?.addEventListener('abort', fail);
  });

describe('attemptTimeoutPolicy', () => {
  it('turns its own timeout into a retriable ETIMEDOUT naming the limit, and restores the caller’s signal', async () => {
    const req = request();
    const outer = new AbortController();
    req.abortSignal = outer.signal;
    const seen: PipelineRequest['abortSignal'][] = [];
    const error = await rejectionOf(
      attemptTimeoutPolicy(0).sendRequest(req, answersOnAbort(seen)),
      RestError,
    );
    expect(error.message).toBe('Partner Center did not answer within 0 ms');
    expect(error.code).toBe(ATTEMPT_TIMEOUT_CODE);
    expect(seen[0]).not.toBe(outer.signal);
    expect(req.abortSignal).toBe(outer.signal);
  });

  it('passes the caller’s abort on to the attempt, as the caller’s error, before and during the call', async () => {
    const before = new AbortController();
    before.abort();
    const early = request();
    early.abortSignal = before.signal;
    const first = await attemptTimeoutPolicy(60_000)
      .sendRequest(early, answersOnAbort([]))
      .catch((e: unknown) => e);
    expect((first as Error).name).toBe('AbortError');

    const during = new AbortController();
    const late = request();
    late.abortSignal = during.signal;
    const seen: PipelineRequest['abortSignal'][] = [];
    const pending = attemptTimeoutPolicy(60_000)
      .sendRequest(late, answersOnAbort(seen))
      .catch((e: unknown) => e);
    during.abort();
    expect(((await pending) as Error).name).toBe('AbortError');
    expect(seen[0]?.aborted).toBe(true);
  });
});

describe('parseErrorBody, at its limits', () => {
  it('keeps at most 100 characters of a code and 1,024 of a description', () => {
    const body = JSON.stringify({ code: 'c'.repeat(101), description: 'd'.repeat(1_025) });
    expect(parseErrorBody(body)).toEqual({ code: 'c'.repeat(100), description: 'd'.repeat(1_024) });
    expect(parseErrorBody(JSON.stringify({ statusCode: 429, message: 'Rate limit is exceeded' }))).toEqual({
      code: '429',
      description: 'Rate limit is exceeded',
    });
  });
});
