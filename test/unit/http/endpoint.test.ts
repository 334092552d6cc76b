import { RestError } from '@azure/core-rest-pipeline';
import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { CallerAuthError, CallerAuthUnavailableError } from '../../../shared/auth/errors.js';
import { SettingsError } from '../../../shared/config/settings.js';
import { CredentialError } from '../../../shared/credentials/app-credential.js';
import {
  type EndpointTelemetry,
  problemFor,
  RequestError,
  resolveCorrelationId,
  runHttpEndpoint,
} from '../../../shared/http/endpoint.js';
import type { HttpResult } from '../../../shared/http/problem.js';
import { PartnerCenterError, type PartnerCenterErrorInit } from '../../../shared/partner-center/errors.js';
import { StorageConfigurationError } from '../../../shared/storage/clients.js';
import type { RequestFailure } from '../../../shared/telemetry/reporter.js';
import { TrackingNotFoundError, ValidationError } from '../../../shared/trackings/errors.js';
import { type CapturedLog, invocationContext } from '../../support/invoke.js';

// The problem+json answers of every failure an endpoint can meet (README, "Troubleshooting"): the
// type, the status, what the detail tells the caller to do, the headers, and the log level.

const CORRELATION = '0f8e5a3c-2b7d-4c1e-9a6f-3d2c1b0a9e8f';
const CUSTOMER = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
const TRACKING = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

function pcError(init: PartnerCenterErrorInit, message = 'Partner Center answered 500'): PartnerCenterError {
  return new PartnerCenterError(message, init);
}

interface Failed {
  result: HttpResult;
  logs: CapturedLog[];
  failures: RequestFailure[];
}

/** Runs an endpoint whose handler throws `error`, through a real HttpRequest and InvocationContext. */
async function failWith(error: unknown, headers: Record<string, string> = {}): Promise<Failed> {
  const logs: CapturedLog[] = [];
  const failures: RequestFailure[] = [];
  const telemetry: EndpointTelemetry = {
    runInvocation: (_scope, work) => work(),
    requestFailed: (failure) => failures.push(failure),
  };
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost:7071/api/x', headers });
  const result = await runHttpEndpoint(
    request,
    invocationContext('getBatchStatus', logs),
    async () => {
      throw error;
    },
    { telemetry },
  );
  return { result, logs, failures };
}

describe('problemFor', () => {
  it('answers a RequestError with its kind, detail and field errors', () => {
    const answer = problemFor(
      new RequestError('invalidRequest', 'Fix the body.', ['body: bad']),
      CORRELATION,
    );
    expect(new RequestError('notFound', 'x').name).toBe('RequestError');
    expect(answer).toEqual({
      type: '/problems/invalid-request',
      title: 'The request is not valid',
      status: 400,
      detail: 'Fix the body.',
      correlationId: CORRELATION,
      errors: ['body: bad'],
    });
  });

  it('answers a ValidationError as 400 with one "field: message" line per problem', () => {
    const answer = problemFor(
      new ValidationError([
        { field: 'customerId', message: 'must be a GUID' },
        { field: 'webhookUrl', message: 'must be HTTPS' },
      ]),
      CORRELATION,
    );
    expect(answer.status).toBe(400);
    expect(answer.type).toBe('/problems/invalid-request');
    expect(answer.errors).toEqual(['customerId: must be a GUID', 'webhookUrl: must be HTTPS']);
  });

  it('answers an unknown tracking as 404 not-found, with the error message as the detail', () => {
    const error = new TrackingNotFoundError({ customerId: CUSTOMER, trackingId: TRACKING });
    expect(problemFor(error, CORRELATION)).toMatchObject({
      type: '/problems/not-found',
      status: 404,
      detail: error.message,
    });
  });

  it('says when to retry a throttled call, rounding Retry-After up, at least 1 s, 30 s when unknown', () => {
    const throttled = (retryAfterMs?: number) =>
      problemFor(pcError({ failure: 'throttled', statusCode: 429, retryAfterMs }), CORRELATION);
    expect(throttled(6_200)).toMatchObject({ type: '/problems/upstream-throttled', status: 503 });
    expect(throttled(6_200).detail).toContain('Retry after 7 seconds');
    expect(throttled(0).detail).toContain('Retry after 1 seconds');
    expect(throttled(undefined).detail).toContain('Retry after 30 seconds');
  });

  it('carries the upstream facts a support ticket needs', () => {
    const answer = problemFor(
      pcError({
        failure: 'http',
        statusCode: 500,
        code: '2001',
        description: 'Internal error',
        requestId: 'req-1',
      }),
      CORRELATION,
    );
    expect(answer).toMatchObject({
      type: '/problems/upstream-error',
      status: 502,
      upstream: { status: 500, code: '2001', description: 'Internal error', requestId: 'req-1' },
    });
    expect(answer.detail).toBe('Partner Center answered 500. The caller did nothing wrong; retry later.');
  });

  it('tells timeouts, unreachable and unreadable answers apart', () => {
    const timeout = problemFor(pcError({ failure: 'timeout' }, 'Partner Center did not answer'), CORRELATION);
    expect(timeout).toMatchObject({ type: '/problems/upstream-timeout', status: 504 });
    expect(timeout.detail).toBe('Partner Center did not answer. Retry later.');
    const network = problemFor(
      pcError({ failure: 'network' }, 'Partner Center could not be reached'),
      CORRELATION,
    );
    expect(network).toMatchObject({ type: '/problems/upstream-unreachable', status: 502 });
    expect(network.detail).toBe('Partner Center could not be reached. Retry later.');
    const invalid = problemFor(pcError({ failure: 'invalid_response' }, 'not JSON'), CORRELATION);
    expect(invalid).toMatchObject({
      type: '/problems/upstream-invalid-response',
      status: 502,
      detail: 'not JSON',
    });
  });

  it('answers 404 from Partner Center as batch-not-found, 401/403 as a refused credential', () => {
    const notFound = problemFor(pcError({ failure: 'http', statusCode: 404 }), CORRELATION);
    expect(notFound).toMatchObject({ type: '/problems/batch-not-found', status: 404 });
    expect(notFound.detail).toContain('Check both ids');
    for (const statusCode of [401, 403]) {
      const refused = problemFor(pcError({ failure: 'http', statusCode }), CORRELATION);
      expect(refused).toMatchObject({ type: '/problems/upstream-authorization', status: 502 });
      expect(refused.detail).toContain(`(${statusCode})`);
    }
    const other = problemFor(pcError({ failure: 'http', statusCode: 400 }), CORRELATION);
    expect(other.type).toBe('/problems/upstream-error');
  });

  it('answers a 401 for missing MFA as consent-required, telling the admin to run the consent', () => {
    const answer = problemFor(
      pcError({ failure: 'http', statusCode: 401, code: '900421', description: 'MFA required' }),
      CORRELATION,
    );
    expect(answer).toMatchObject({ type: '/problems/consent-required', status: 502 });
    expect(answer.detail).toContain("run 'npm run consent'");
  });

  it("answers the app's own credential failures by stage: consent, or an operator's fix", () => {
    const consent = new CredentialError('The refresh token was revoked', 'consent');
    const vault = new CredentialError('Key Vault secret was not found', 'key_vault');
    expect(problemFor(consent, CORRELATION)).toMatchObject({
      type: '/problems/consent-required',
      detail: 'The refresh token was revoked',
    });
    expect(problemFor(vault, CORRELATION)).toMatchObject({
      type: '/problems/credential-unavailable',
      status: 502,
      detail: 'Key Vault secret was not found',
    });
    // The same, wrapped by the Partner Center client.
    expect(problemFor(pcError({ failure: 'credential', cause: consent }), CORRELATION).type).toBe(
      '/problems/consent-required',
    );
    const bare = problemFor(pcError({ failure: 'credential' }, 'no token'), CORRELATION);
    expect(bare).toMatchObject({ type: '/problems/credential-unavailable', detail: 'no token' });
  });

  it('names every invalid setting in a misconfigured answer', () => {
    const settings = problemFor(new SettingsError(['A is missing', 'B is not a URL']), CORRELATION);
    expect(settings).toMatchObject({ type: '/problems/misconfigured', status: 500 });
    expect(settings.detail).toBe(
      "The app's settings are invalid: A is missing; B is not a URL. An operator must fix them.",
    );
    const storage = problemFor(new StorageConfigurationError('no connection string'), CORRELATION);
    expect(storage.detail).toContain('invalid: no connection string.');
  });

  it('answers storage failures without an HTTP answer or with a 5xx as 503, others as 500', () => {
    expect(problemFor(new RestError('socket hang up', { code: 'ECONNRESET' }), CORRELATION).type).toBe(
      '/problems/storage-unavailable',
    );
    expect(problemFor(new RestError('busy', { statusCode: 500 }), CORRELATION)).toMatchObject({
      status: 503,
      detail: 'Tracking storage did not answer. Retry later; nothing was lost.',
    });
    expect(problemFor(new RestError('conflict', { statusCode: 409 }), CORRELATION).type).toBe(
      '/problems/internal',
    );
    expect(problemFor(new RestError('almost', { statusCode: 499 }), CORRELATION).type).toBe(
      '/problems/internal',
    );
  });

  it('says nothing of an unexpected cause, only the correlation id to quote', () => {
    const answer = problemFor(new Error('secret=hunter2'), CORRELATION);
    expect(answer).toMatchObject({ type: '/problems/internal', status: 500 });
    expect(answer.detail).toBe(
      `Something unexpected went wrong. Quote correlation id ${CORRELATION} when reporting it.`,
    );
  });
});

describe('runHttpEndpoint', () => {
  it('echoes a GUID correlation id (lower-cased) and answers the handler result', async () => {
    const request = new HttpRequest({
      method: 'GET',
      url: 'http://localhost:7071/api/x',
      headers: { 'x-correlation-id': CORRELATION.toUpperCase() },
    });
    let seen = '';
    const result = await runHttpEndpoint(request, invocationContext('f', []), async ({ correlationId }) => {
      seen = correlationId;
      return { status: 200, headers: { A: '1' }, jsonBody: {} };
    });
    expect(seen).toBe(CORRELATION);
    expect(result.headers).toEqual({ A: '1', 'MS-CorrelationId': CORRELATION });
  });

  it('answers a throttled call with problem+json, Retry-After, the telemetry failure and a warning', async () => {
    const { result, logs, failures } = await failWith(
      pcError({ failure: 'throttled', statusCode: 429, code: '429', retryAfterMs: 2_500 }),
      { 'ms-correlationid': CORRELATION },
    );
    expect(result.status).toBe(503);
    expect(result.headers).toEqual({
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
      'Retry-After': '3',
      'MS-CorrelationId': CORRELATION,
    });
    expect(failures).toEqual([
      {
        functionName: 'getBatchStatus',
        status: 503,
        problemType: '/problems/upstream-throttled',
        upstreamStatus: 429,
        upstreamCode: '429',
      },
    ]);
    expect(logs).toEqual([
      {
        level: 'warning',
        message: `503 /problems/upstream-throttled: ${(result.jsonBody as { detail: string }).detail} correlationId=${CORRELATION}`,
      },
    ]);
  });

  it('asks a caller to retry a storage outage after 5 s; an upstream 5xx without throttling has no Retry-After', async () => {
    const storage = await failWith(new RestError('busy', { statusCode: 503 }));
    expect(storage.result.headers['Retry-After']).toBe('5');
    const upstream = await failWith(pcError({ failure: 'http', statusCode: 500 }));
    expect(upstream.result.headers['Retry-After']).toBeUndefined();
  });

  it('logs an unexpected error by name and message at error level, a caller mistake at information level', async () => {
    const unexpected = await failWith(new TypeError('x is undefined'), { 'ms-correlationid': CORRELATION });
    expect(unexpected.logs).toEqual([
      {
        level: 'error',
        message: `500 /problems/internal: TypeError: x is undefined correlationId=${CORRELATION}`,
      },
    ]);
    const mistake = await failWith(new RequestError('notFound', 'No such thing.'), {
      'ms-correlationid': CORRELATION,
    });
    expect(mistake.logs).toEqual([
      { level: 'information', message: `404 /problems/not-found correlationId=${CORRELATION}` },
    ]);
    // Without field errors the answer has none (no empty or invented list).
    expect(mistake.result.jsonBody).not.toHaveProperty('errors');
  });

  it('logs a 500 that is not internal (misconfigured) as a warning with its detail', async () => {
    const { logs, result } = await failWith(new SettingsError(['A is missing']), {
      'ms-correlationid': CORRELATION,
    });
    expect(result.status).toBe(500);
    expect(logs).toEqual([
      {
        level: 'warning',
        message: `500 /problems/misconfigured: ${(result.jsonBody as { detail: string }).detail} correlationId=${CORRELATION}`,
      },
    ]);
  });

  it('answers a caller-auth failure with its challenge, and unavailable keys with Retry-After', async () => {
    const refused = await failWith(new CallerAuthError('unauthorized', 'No token.', 'Bearer realm="x"'));
    expect(refused.result.status).toBe(401);
    expect(refused.result.headers['WWW-Authenticate']).toBe('Bearer realm="x"');
    expect(refused.result.jsonBody).toMatchObject({ type: '/problems/unauthorized', detail: 'No token.' });
    expect(refused.result.jsonBody).not.toHaveProperty('errors');
    const unavailable = await failWith(new CallerAuthUnavailableError('jwks down', 12));
    expect(unavailable.result.status).toBe(503);
    expect(unavailable.result.headers['Retry-After']).toBe('12');
    expect((unavailable.result.jsonBody as { detail: string }).detail).toContain('Retry after 12 seconds');
  });
});

describe('resolveCorrelationId', () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it('prefers MS-CorrelationId, then X-Correlation-Id, trimmed; ignores ids that are not GUIDs', () => {
    const other = 'b7c6d5e4-f3a2-4b1c-8d9e-0f1a2b3c4d5e';
    expect(
      resolveCorrelationId(headers({ 'ms-correlationid': ` ${CORRELATION} `, 'x-correlation-id': other })),
    ).toBe(CORRELATION);
    expect(resolveCorrelationId(headers({ 'ms-correlationid': 'nope', 'x-correlation-id': other }))).toBe(
      other,
    );
    // An HttpCall whose headers are not a WHATWG Headers (which trims values) may hand them as sent.
    expect(
      resolveCorrelationId({ get: (name) => (name === 'ms-correlationid' ? ` ${CORRELATION}\t` : null) }),
    ).toBe(CORRELATION);
    const fresh = resolveCorrelationId(headers({ 'ms-correlationid': 'nope' }));
    expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh).not.toBe(resolveCorrelationId(headers({})));
  });
});
