import { createHash, X509Certificate } from 'node:crypto';
import {
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ClientCertificate, createClientCertificate } from '../../../dev/simulators/tls.js';
import { CredentialError } from '../../../shared/credentials/app-credential.js';
import {
  DEVICE_CODE_GRANT_TYPE,
  EntraTokenEndpoint,
  TokenEndpointError,
  type TokenEndpointOptions,
} from '../../../shared/credentials/token-endpoint.js';

// The form posts to Entra's v2 token and device-code endpoints through a recording HTTP client:
// what is sent (URL, form, headers, timeout, client assertion) and how each answer is read.

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const SCOPE = 'https://api.partnercenter.microsoft.com/user_impersonation offline_access';
const NOW = Date.parse('2026-12-01T12:00:00.750Z');

let sent: PipelineRequest[];
/** When each request was sent (the fake clock, in the retry test). */
let sentAt: number[];
let reply: { status: number; body?: string };
let certificate: ClientCertificate;

const httpClient: HttpClient = {
  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    sent.push(request);
    sentAt.push(Date.now());
    return { status: reply.status, headers: createHttpHeaders(), request, bodyAsText: reply.body };
  },
};

beforeAll(async () => {
  certificate = await createClientCertificate('device-batch-status test');
});

beforeEach(() => {
  sent = [];
  sentAt = [];
  reply = { status: 200, body: JSON.stringify({ access_token: 'at', expires_in: 1800 }) };
});

function endpoint(options: Partial<TokenEndpointOptions> = {}): EntraTokenEndpoint {
  return new EntraTokenEndpoint({
    tenantId: TENANT,
    clientId: CLIENT_ID,
    authorityHost: 'https://login.test',
    httpClient,
    now: () => NOW,
    ...options,
  });
}

function form(request: PipelineRequest | undefined): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(String(request?.body)));
}

function answer(status: number, body: unknown): void {
  reply = { status, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

async function refusal(promise: Promise<unknown>): Promise<TokenEndpointError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenEndpointError);
  expect((error as Error).name).toBe('TokenEndpointError');
  return error as TokenEndpointError;
}

const redeem = (target = endpoint()) => target.redeemRefreshToken('rt', SCOPE, { value: 'app-secret' });

describe('EntraTokenEndpoint: what is sent', () => {
  it('posts the refresh-token grant as a form, with the client secret, to the tenant token URL', async () => {
    await redeem();
    expect(sent).toHaveLength(1);
    const request = sent[0]!;
    expect(request.url).toBe('https://login.test/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(request.method).toBe('POST');
    expect(form(request)).toEqual({
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      refresh_token: 'rt',
      scope: SCOPE,
      client_secret: 'app-secret',
    });
    expect(request.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(request.headers.get('accept')).toBe('application/json');
    expect(request.headers.get('user-agent')).toMatch(/^device-batch-status /);
    expect(request.timeout).toBe(10_000);
  });

  it('takes another timeout', async () => {
    await redeem(endpoint({ timeoutMs: 2_500 }));
    expect(sent[0]?.timeout).toBe(2_500);
  });

  it('builds both URLs from the authority host (trailing slashes dropped) and the encoded tenant', () => {
    const target = endpoint({ authorityHost: 'https://login.test//', tenantId: 'a b' });
    expect(target.tokenUrl).toBe('https://login.test/a%20b/oauth2/v2.0/token');
    expect(target.deviceCodeUrl).toBe('https://login.test/a%20b/oauth2/v2.0/devicecode');
    expect(endpoint({ authorityHost: undefined }).tokenUrl).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
    );
  });

  it('signs a client assertion with the certificate instead of sending a secret', async () => {
    const target = endpoint();
    await target.redeemRefreshToken('rt', SCOPE, { value: certificate.pem });
    const fields = form(sent[0]);
    expect(fields.client_secret).toBeUndefined();
    expect(fields.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const assertion = fields.client_assertion!;
    const der = new X509Certificate(certificate.certPem).raw;
    expect(decodeProtectedHeader(assertion)).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      x5t: createHash('sha1').update(der).digest('base64url'),
      'x5t#S256': createHash('sha256').update(der).digest('base64url'),
    });
    const seconds = Math.floor(NOW / 1000);
    const { payload } = await jwtVerify(assertion, await importX509(certificate.certPem, 'RS256'), {
      currentDate: new Date(NOW),
    });
    expect(payload).toEqual({
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      aud: target.tokenUrl,
      iat: seconds,
      nbf: seconds,
      exp: seconds + 600,
    });
  });

  it('refuses a PEM without its private key, naming neither', async () => {
    const error = await endpoint()
      .redeemRefreshToken('rt', SCOPE, { value: certificate.certPem })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toMatchObject({
      stage: 'key_vault',
      message: 'the app credential is a PEM without both its certificate and its private key',
    });
    expect(sent).toEqual([]);
  });

  it('starts a device authorization with the client id and scope only', async () => {
    answer(200, {
      device_code: 'dc',
      user_code: 'UC',
      verification_uri: 'https://microsoft.com/devicelogin',
    });
    await endpoint().startDeviceAuthorization(SCOPE);
    expect(sent[0]?.url).toBe('https://login.test/contoso.onmicrosoft.com/oauth2/v2.0/devicecode');
    expect(form(sent[0])).toEqual({ client_id: CLIENT_ID, scope: SCOPE });
  });

  it('polls the device code grant with the client secret', async () => {
    await endpoint().redeemDeviceCode('dc', { value: 'app-secret' });
    expect(sent[0]?.url).toBe('https://login.test/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(form(sent[0])).toEqual({
      grant_type: DEVICE_CODE_GRANT_TYPE,
      client_id: CLIENT_ID,
      device_code: 'dc',
      client_secret: 'app-secret',
    });
    expect(DEVICE_CODE_GRANT_TYPE).toBe('urn:ietf:params:oauth:grant-type:device_code');
  });
});

describe('EntraTokenEndpoint: the answers', () => {
  it('reads a token answer', async () => {
    answer(200, { access_token: 'at', expires_in: '1800', refresh_token: 'rt2', scope: SCOPE });
    expect(await redeem()).toEqual({
      accessToken: 'at',
      expiresInSeconds: 1800,
      refreshToken: 'rt2',
      scope: SCOPE,
    });
  });

  it('defaults expires_in to an hour; an empty refresh token or a non-string scope is none', async () => {
    answer(200, { access_token: 'at', refresh_token: '', scope: 7 });
    expect(await redeem()).toEqual({
      accessToken: 'at',
      expiresInSeconds: 3600,
      refreshToken: undefined,
      scope: undefined,
    });
  });

  it('a 200 without an access token is an invalid response', async () => {
    answer(200, { token_type: 'Bearer' });
    const error = await refusal(redeem());
    expect(error).toMatchObject({
      error: 'invalid_response',
      statusCode: 200,
      aadsts: undefined,
      description: 'the token answer has no access token',
      message: 'invalid_response: the token answer has no access token',
    });
  });

  it('an OAuth error keeps its code, the AADSTS number and the first line of its description', async () => {
    answer(400, {
      error: 'invalid_grant',
      error_description:
        'AADSTS70000: The provided grant has expired due to it being revoked.\r\nTrace ID: 0000\r\nTimestamp: 2026-12-01',
      error_codes: [70000, 1],
    });
    const error = await refusal(redeem());
    expect(error).toMatchObject({
      error: 'invalid_grant',
      statusCode: 400,
      aadsts: 70000,
      description: 'The provided grant has expired due to it being revoked.',
      message: 'invalid_grant (AADSTS70000): The provided grant has expired due to it being revoked.',
    });
    expect(sent).toHaveLength(1);
  });

  it('splits the description at a bare newline too, and strips only a leading AADSTS prefix', async () => {
    answer(400, { error: 'invalid_scope', error_description: 'AADSTS7:   Scope is wrong.\nTrace ID: 1' });
    expect((await refusal(redeem())).description).toBe('Scope is wrong.');
    answer(400, { error: 'invalid_scope', error_description: 'See AADSTS70011: for the scope.' });
    expect((await refusal(redeem())).description).toBe('See AADSTS70011: for the scope.');
  });

  it('no number in error_codes, no description: the AADSTS part is left out and the status said', async () => {
    answer(401, { error: 'invalid_client', error_codes: ['7000215'] });
    const error = await refusal(redeem());
    expect(error).toMatchObject({ aadsts: undefined, description: 'Microsoft Entra ID answered 401' });
    expect(error.message).toBe('invalid_client: Microsoft Entra ID answered 401');
  });

  it('an answer that is not JSON is judged by its status', async () => {
    answer(403, '<html>Forbidden by proxy</html>');
    expect(await refusal(redeem())).toMatchObject({
      error: 'http_403',
      statusCode: 403,
      message: 'http_403: Microsoft Entra ID answered 403',
    });
  });

  it('a 200 whose body is not JSON is no token answer', async () => {
    answer(200, '<html>Signed in</html>');
    expect(await refusal(redeem())).toMatchObject({ error: 'http_200', statusCode: 200 });
  });

  it('a JSON 200 that is not an object is no token answer', async () => {
    answer(200, '"at"');
    expect(await refusal(redeem())).toMatchObject({ error: 'http_200', statusCode: 200 });
  });

  it('a JSON null is no answer either, whatever the status', async () => {
    answer(400, 'null');
    expect(await refusal(redeem())).toMatchObject({ error: 'http_400', statusCode: 400 });
    answer(200, 'null');
    expect(await refusal(redeem())).toMatchObject({ error: 'http_200', statusCode: 200 });
  });

  it('keeps descriptions to 300 characters and messages to 400', async () => {
    answer(400, { error: 'e'.repeat(200), error_description: 'd'.repeat(500) });
    const error = await refusal(redeem());
    expect(error.description).toBe('d'.repeat(300));
    expect(error.message).toBe(`${'e'.repeat(200)}: ${'d'.repeat(300)}`.slice(0, 400));
  });

  it('reads a device authorization, with RFC 8628 defaults for the expiry and the interval', async () => {
    answer(200, {
      device_code: 'dc',
      user_code: 'UC',
      verification_uri: 'https://microsoft.com/devicelogin',
      verification_uri_complete: 'https://microsoft.com/devicelogin?code=UC',
      message: 'To sign in, use a web browser',
    });
    expect(await endpoint().startDeviceAuthorization(SCOPE)).toEqual({
      deviceCode: 'dc',
      userCode: 'UC',
      verificationUri: 'https://microsoft.com/devicelogin',
      verificationUriComplete: 'https://microsoft.com/devicelogin?code=UC',
      expiresInSeconds: 900,
      intervalSeconds: 5,
      message: 'To sign in, use a web browser',
    });
    answer(200, {
      device_code: 'dc',
      user_code: 'UC',
      verification_uri: 'https://microsoft.com/devicelogin',
      verification_uri_complete: 1,
      expires_in: '600',
      interval: 0,
      message: 2,
    });
    expect(await endpoint().startDeviceAuthorization(SCOPE)).toEqual({
      deviceCode: 'dc',
      userCode: 'UC',
      verificationUri: 'https://microsoft.com/devicelogin',
      verificationUriComplete: undefined,
      expiresInSeconds: 600,
      intervalSeconds: 0,
      message: undefined,
    });
  });

  it.each(['device_code', 'user_code', 'verification_uri'])(
    'a device authorization without %s is an invalid response',
    async (field) => {
      const body: Record<string, unknown> = {
        device_code: 'dc',
        user_code: 'UC',
        verification_uri: 'https://x',
      };
      body[field] = 1;
      answer(200, body);
      expect(await refusal(endpoint().startDeviceAuthorization(SCOPE))).toMatchObject({
        error: 'invalid_response',
        statusCode: 200,
        description: 'the device authorization answer lacks a code',
      });
    },
  );
});

describe('EntraTokenEndpoint: retries', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('retries a 503 three times, backing off from 500 ms (jitter at its least), then answers it', async () => {
    vi.useFakeTimers({ now: NOW });
    vi.spyOn(Math, 'random').mockReturnValue(0);
    answer(503, { error: 'temporarily_unavailable', error_description: 'AADSTS90033: busy' });
    const outcome = refusal(redeem());
    await vi.runAllTimersAsync();
    expect(await outcome).toMatchObject({
      error: 'temporarily_unavailable',
      statusCode: 503,
      aadsts: undefined,
    });
    // Exponential from 500 ms, half of it as jitter: 250, 500, 1000 ms at the least.
    expect(sentAt.map((at) => at - NOW)).toEqual([0, 250, 750, 1750]);
  });

  it('does not retry an OAuth error answer', async () => {
    answer(400, { error: 'invalid_grant' });
    await refusal(redeem());
    expect(sent).toHaveLength(1);
  });
});
