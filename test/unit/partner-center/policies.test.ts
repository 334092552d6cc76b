import {
  createHttpHeaders,
  createPipelineRequest,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
} from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { PARTNER_CENTER_DEFAULTS } from '../../../shared/config/partner-center-settings.js';
import { PartnerCenterError, saysMfaMissing } from '../../../shared/partner-center/errors.js';
import { createPartnerCenterPipeline } from '../../../shared/partner-center/pipeline.js';
import {
  ATTEMPT_TIMEOUT_CODE,
  partnerCenterHeadersPolicy,
  partnerCenterRetryStrategy,
  type RequestBudget,
  retryAfterFrom,
  setRequestBudget,
} from '../../../shared/partner-center/policies.js';

// The retry decisions of the Partner Center pipeline, one attempt at a time, with a fixed clock and
// jitter: which answers are retried, after how long, and when the budget says "hand it back".

const NOW = 1_000_000;
const URL = 'https://partner.example/v1/customers/c/batchJobStatus/t';

function request(budget?: RequestBudget): PipelineRequest {
  const value = createPipelineRequest({ url: URL });
  if (budget) setRequestBudget(value, budget);
  return value;
}

function response(status: number, headers: Record<string, string> = {}, req = request()): PipelineResponse {
  return { status, headers: createHttpHeaders(headers), request: req };
}

const strategy = (random = 0.5) =>
  partnerCenterRetryStrategy({
    retryDelayInMs: 100,
    maxRetryDelayInMs: 1_000,
    random: () => random,
    now: () => NOW,
  });

describe('partnerCenterRetryStrategy', () => {
  it('waits out exactly the Retry-After of a 429 or a 503 when the budget allows it', () => {
    const budget = { deadline: NOW + 10_000, maxRetryAfterMs: 5_000 };
    for (const status of [429, 503]) {
      const res = response(status, { 'retry-after': '5' }, request(budget));
      expect(strategy().retry({ retryCount: 0, response: res })).toEqual({ retryAfterInMs: 5_000 });
    }
  });

  it('hands a throttled answer back when Retry-After exceeds what the request will wait, or its deadline', () => {
    const longer = request({ deadline: NOW + 60_000, maxRetryAfterMs: 4_999 });
    expect(
      strategy().retry({ retryCount: 0, response: response(429, { 'retry-after': '5' }, longer) }),
    ).toEqual({
      skipStrategy: true,
    });
    const late = request({ deadline: NOW + 4_999, maxRetryAfterMs: 60_000 });
    expect(
      strategy().retry({ retryCount: 0, response: response(429, { 'retry-after': '5' }, late) }),
    ).toEqual({
      skipStrategy: true,
    });
    // A 429 without Retry-After: no guess, the caller hears "throttled".
    expect(strategy().retry({ retryCount: 0, response: response(429) })).toEqual({ skipStrategy: true });
  });

  it('backs off exponentially with jitter (half to all of the step, capped) on 5xx and 408', () => {
    const res = response(500);
    expect(strategy(0).retry({ retryCount: 0, response: res })).toEqual({ retryAfterInMs: 50 });
    expect(strategy(1).retry({ retryCount: 0, response: res })).toEqual({ retryAfterInMs: 100 });
    expect(strategy(0).retry({ retryCount: 2, response: res })).toEqual({ retryAfterInMs: 200 });
    expect(strategy(1).retry({ retryCount: 10, response: res })).toEqual({ retryAfterInMs: 1_000 });
    for (const status of [408, 502, 503, 504]) {
      expect(strategy(0).retry({ retryCount: 0, response: response(status) }), String(status)).toEqual({
        retryAfterInMs: 50,
      });
    }
  });

  it('never retries 4xx answers other than 408, nor 501 and 505', () => {
    for (const status of [400, 401, 403, 404, 407, 409, 499, 501, 505]) {
      expect(strategy().retry({ retryCount: 0, response: response(status) }), String(status)).toEqual({
        skipStrategy: true,
      });
    }
  });

  it('retries transient network errors only', () => {
    for (const code of [
      ATTEMPT_TIMEOUT_CODE,
      'ECONNRESET',
      'ECONNREFUSED',
      'ENOTFOUND',
      RestError.REQUEST_SEND_ERROR,
    ]) {
      const error = new RestError('failed', { code, request: request() });
      expect(strategy(0).retry({ retryCount: 0, responseError: error }), code).toEqual({
        retryAfterInMs: 50,
      });
    }
    const other = new RestError('bad certificate', { code: 'CERT_HAS_EXPIRED', request: request() });
    expect(strategy().retry({ retryCount: 0, responseError: other })).toEqual({ skipStrategy: true });
    const noCode = new RestError('odd', { request: request() });
    expect(strategy().retry({ retryCount: 0, responseError: noCode })).toEqual({ skipStrategy: true });
  });

  it('starts no backoff retry that would end after the deadline', () => {
    const req = request({ deadline: NOW + 100, maxRetryAfterMs: 60_000 });
    expect(strategy(1).retry({ retryCount: 0, response: response(500, {}, req) })).toEqual({
      skipStrategy: true,
    });
    expect(strategy(0.5).retry({ retryCount: 0, response: response(500, {}, req) })).toEqual({
      retryAfterInMs: 75,
    });
  });
});

describe('retryAfterFrom', () => {
  const at = (headers: Record<string, string>) => retryAfterFrom(response(429, headers), () => NOW);

  it('reads seconds (whole or not), an HTTP date, and the millisecond headers first', () => {
    expect(at({})).toBeUndefined();
    expect(at({ 'retry-after': ' 7 ' })).toBe(7_000);
    expect(at({ 'retry-after': '0.5' })).toBe(500);
    expect(at({ 'retry-after': new Date(NOW + 3_000).toUTCString() })).toBe(3_000);
    expect(at({ 'retry-after': new Date(NOW - 3_000).toUTCString() })).toBe(0);
    expect(at({ 'retry-after': 'soon' })).toBeUndefined();
    expect(at({ 'retry-after-ms': '250', 'retry-after': '7' })).toBe(250);
    expect(at({ 'x-ms-retry-after-ms': '0', 'retry-after': '7' })).toBe(0);
    // Malformed or negative millisecond values fall through to Retry-After.
    expect(at({ 'retry-after-ms': '-1', 'retry-after': '7' })).toBe(7_000);
    expect(at({ 'retry-after-ms': 'x', 'x-ms-retry-after-ms': '40' })).toBe(40);
    for (const value of ['7s', 'x7', '7.x']) expect(at({ 'retry-after': value }), value).toBeUndefined();
  });
});

describe('PartnerCenterError', () => {
  it('tells not-found, throttled and missing MFA apart', () => {
    const http = (statusCode: number, extra: { code?: string; description?: string } = {}) =>
      new PartnerCenterError('x', { failure: 'http', statusCode, ...extra });
    expect(http(404).isNotFound).toBe(true);
    expect(new PartnerCenterError('x', { failure: 'network', statusCode: 404 }).isNotFound).toBe(false);
    expect(http(400).isNotFound).toBe(false);
    expect(new PartnerCenterError('x', { failure: 'throttled' }).isThrottled).toBe(true);
    expect(http(429).isThrottled).toBe(false);
    expect(http(401, { code: '900421' }).isMissingMfa).toBe(true);
    expect(http(403, { code: '900421' }).isMissingMfa).toBe(false);
    expect(
      new PartnerCenterError('x', { failure: 'credential', statusCode: 401, code: '900421' }).isMissingMfa,
    ).toBe(false);
    expect(http(401, { description: 'token expired' }).isMissingMfa).toBe(false);
  });

  it('keeps its cause only when there is one', () => {
    const cause = new Error('socket');
    expect(new PartnerCenterError('x', { failure: 'network', cause }).cause).toBe(cause);
    expect('cause' in new PartnerCenterError('x', { failure: 'network' })).toBe(false);
  });
});

describe('saysMfaMissing', () => {
  it('knows the 900421 code and descriptions that name multi-factor authentication', () => {
    expect(saysMfaMissing({ code: '900421' })).toBe(true);
    expect(saysMfaMissing({ description: 'Multi-factor authentication is required' })).toBe(true);
    expect(saysMfaMissing({ description: 'multifactor required' })).toBe(true);
    expect(saysMfaMissing({ description: 'The sign-in had no MFA.' })).toBe(true);
    expect(saysMfaMissing({ description: 'AMFAB is not MFA-free' })).toBe(true);
    expect(saysMfaMissing({ description: 'SMFA' })).toBe(false);
    expect(saysMfaMissing({ code: '900420', description: 'token expired' })).toBe(false);
    expect(saysMfaMissing({})).toBe(false);
  });
});

describe('the Partner Center pipeline', () => {
  const settings = { ...PARTNER_CENTER_DEFAULTS, locale: 'de-DE', applicationName: 'batch-tool' };
  const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };

  it('runs its policies in the Azure SDK phases: headers once, then retry, then per attempt', () => {
    const names = (observer?: () => void) =>
      createPartnerCenterPipeline(settings, credential, observer)
        .getOrderedPolicies()
        .map((policy) => policy.name);
    // Before the retry policy runs once per logical request; after it, once per attempt.
    expect(names(() => {})).toEqual([
      'userAgentPolicy',
      'partnerCenterHeadersPolicy',
      'retryPolicy',
      'attemptTimeoutPolicy',
      'throttleObserverPolicy',
      'concurrencyLimitPolicy',
      'bearerTokenAuthenticationPolicy',
      'boundedBodyPolicy',
      'tracingPolicy',
    ]);
    expect(names()).not.toContain('throttleObserverPolicy');
  });

  it("sends Partner Center's headers and keeps the call's own request and correlation ids", async () => {
    const sent = createPipelineRequest({
      url: URL,
      headers: createHttpHeaders({ 'MS-RequestId': 'request-1', 'MS-CorrelationId': 'correlation-1' }),
    });
    const policy = partnerCenterHeadersPolicy({ locale: 'de-DE', applicationName: 'batch-tool' });
    const answer = await policy.sendRequest(sent, async (req) => response(200, {}, req));
    expect(answer.request.headers.toJSON()).toMatchObject({
      accept: 'application/json',
      'x-locale': 'de-DE',
      'ms-partnercenter-application': 'batch-tool',
      'ms-requestid': 'request-1',
      'ms-correlationid': 'correlation-1',
    });
  });
});

describe('PartnerCenterError, by name', () => {
  it('is named so that logs and telemetry tell it from other errors', () => {
    const error = new PartnerCenterError('x', { failure: 'network' });
    expect(error.name).toBe('PartnerCenterError');
    expect(String(error)).toBe('PartnerCenterError: x');
  });
});
