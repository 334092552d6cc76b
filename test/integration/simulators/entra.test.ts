import {
  AuthenticationRequiredError,
  ClientCertificateCredential,
  ClientSecretCredential,
} from '@azure/identity';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accessTokenIssuer, EntraSimulator } from '../../../dev/simulators/entra.js';
import { type ClientCertificate, createClientCertificate } from '../../../dev/simulators/tls.js';
import { testTls } from '../../support/simulators.js';

const TENANT = '0d6a1f3e-2b4c-4d8e-9a7f-1c3b5d7e9f02';
const OTHER_TENANT = '9e8d7c6b-5a49-4382-b1c0-f9e8d7c6b5a4';
const SECRET_APP = { clientId: '11111111-2222-4333-8444-555555555555', secret: 'first~secret' };
const CERT_APP = '66666666-7777-4888-9999-aaaaaaaaaaaa';
const PARTNER_CENTER_SCOPE = 'https://api.partnercenter.microsoft.com/.default';

describe('EntraSimulator', () => {
  const entra = new EntraSimulator({ tls: testTls() });
  let certificate: ClientCertificate;
  let strayCertificate: ClientCertificate;

  const secretCredential = (secret: string, tenant = TENANT, clientId = SECRET_APP.clientId) =>
    new ClientSecretCredential(tenant, clientId, secret, {
      authorityHost: entra.url,
      disableInstanceDiscovery: true,
    });

  beforeAll(async () => {
    [certificate, strayCertificate] = await Promise.all([
      createClientCertificate('cert-app'),
      createClientCertificate('stray'),
    ]);
    await entra.start();
    entra.addTenant(OTHER_TENANT);
  });
  afterAll(() => entra.stop());
  beforeEach(() => {
    entra.reset();
    entra.registerApplication({
      tenantId: TENANT,
      clientId: SECRET_APP.clientId,
      secrets: [SECRET_APP.secret],
      roles: ['DeviceBatch.Read'],
    });
    entra.registerApplication({
      tenantId: TENANT,
      clientId: CERT_APP,
      certificatePems: [certificate.certPem],
    });
  });

  it('issues a Partner Center token to ClientSecretCredential', async () => {
    const token = await secretCredential(SECRET_APP.secret).getToken(PARTNER_CENTER_SCOPE);

    expect(token.token).toMatch(/^ey/);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60 * 1000);
    const claims = decodeJwt(token.token);
    expect(claims).toMatchObject({
      aud: 'https://api.partnercenter.microsoft.com',
      iss: `https://sts.windows.net/${TENANT}/`,
      tid: TENANT,
      appid: SECRET_APP.clientId,
      azp: SECRET_APP.clientId,
      appidacr: '1',
      idtyp: 'app',
      roles: ['DeviceBatch.Read'],
    });
    expect(decodeProtectedHeader(token.token).alg).toBe('RS256');
    await expect(
      entra.verifyAccessToken(token.token, 'https://api.partnercenter.microsoft.com'),
    ).resolves.toMatchObject({ appid: SECRET_APP.clientId });
    expect(entra.counters).toMatchObject({
      tokenRequests: 1,
      tokensIssued: 1,
      tokenRequestsByClientId: { [SECRET_APP.clientId]: 1 },
      tokenRequestsByGrant: { secret: 1, assertion: 0 },
      failures: 0,
    });
    expect(entra.counters.discoveryRequests).toBeGreaterThanOrEqual(1);
  });

  it('refuses a wrong secret with invalid_client (AADSTS7000215)', async () => {
    const attempt = secretCredential('not-the-secret').getToken(PARTNER_CENTER_SCOPE);

    // @azure/identity 4.13 surfaces MSAL's ServerError as AuthenticationRequiredError, not AuthenticationError.
    await expect(attempt).rejects.toBeInstanceOf(AuthenticationRequiredError);
    await expect(attempt).rejects.toThrow(/^invalid_client: /);
    await expect(attempt).rejects.toThrow(/AADSTS7000215/);
    expect(entra.counters.failures).toBe(1);
    expect(entra.counters.tokensIssued).toBe(0);
  });

  it('rotates secrets: the old one stops working, the new one works', async () => {
    await expect(secretCredential(SECRET_APP.secret).getToken(PARTNER_CENTER_SCOPE)).resolves.toBeDefined();

    entra.setApplicationSecrets(SECRET_APP.clientId, ['second~secret']);

    await expect(secretCredential(SECRET_APP.secret).getToken(PARTNER_CENTER_SCOPE)).rejects.toThrow(
      /AADSTS7000215/,
    );
    await expect(secretCredential('second~secret').getToken(PARTNER_CENTER_SCOPE)).resolves.toBeDefined();
  });

  it('names an unknown client (AADSTS700016) and an unknown tenant (AADSTS90002)', async () => {
    await expect(
      secretCredential('x', TENANT, '12345678-1234-4123-8123-123456789abc').getToken(PARTNER_CENTER_SCOPE),
    ).rejects.toThrow(/AADSTS700016/);
    await expect(
      secretCredential(SECRET_APP.secret, OTHER_TENANT).getToken(PARTNER_CENTER_SCOPE),
    ).rejects.toThrow(/AADSTS700016/);
    const unknownTenant = await fetch(`${entra.url}/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: SECRET_APP.clientId,
        client_secret: SECRET_APP.secret,
        scope: PARTNER_CENTER_SCOPE,
      }),
    });
    expect(unknownTenant.status).toBe(400);
    expect(await unknownTenant.json()).toMatchObject({ error: 'invalid_request', error_codes: [90002] });
  });

  it('issues a token to ClientCertificateCredential (PEM with key) after verifying its assertion', async () => {
    const credential = new ClientCertificateCredential(
      TENANT,
      CERT_APP,
      { certificate: certificate.pem },
      { authorityHost: entra.url, disableInstanceDiscovery: true },
    );

    const token = await credential.getToken('https://vault.azure.net/.default');

    expect(decodeJwt(token.token)).toMatchObject({
      aud: 'https://vault.azure.net',
      appid: CERT_APP,
      appidacr: '2',
    });
    expect(entra.counters.tokenRequestsByGrant).toEqual({ secret: 0, assertion: 1, other: 0 });
  });

  it('refuses an assertion signed by a certificate the app does not have (AADSTS700027)', async () => {
    const credential = new ClientCertificateCredential(
      TENANT,
      CERT_APP,
      { certificate: strayCertificate.pem },
      { authorityHost: entra.url, disableInstanceDiscovery: true },
    );

    await expect(credential.getToken(PARTNER_CENTER_SCOPE)).rejects.toThrow(/AADSTS700027/);
    expect(entra.counters).toMatchObject({ tokensIssued: 0, failures: 1 });
  });

  it('serves a discovery document and the JWKS that verifies its tokens', async () => {
    const discovery = (await (
      await fetch(`${entra.url}/${TENANT}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(discovery).toMatchObject({
      issuer: `${entra.url}/${TENANT}/v2.0`,
      token_endpoint: `${entra.url}/${TENANT}/oauth2/v2.0/token`,
      authorization_endpoint: `${entra.url}/${TENANT}/oauth2/v2.0/authorize`,
      jwks_uri: `${entra.url}/${TENANT}/discovery/v2.0/keys`,
    });
    const jwks = (await (await fetch(discovery.jwks_uri as string)).json()) as {
      keys: { kid: string; kty: string }[];
    };
    const token = await entra.issueToken({ audience: 'https://vault.azure.net', tenantId: TENANT });
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'RSA', kid: decodeProtectedHeader(token).kid }),
    ]);

    const unknown = await fetch(
      `${entra.url}/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/v2.0/.well-known/openid-configuration`,
    );
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
  });

  it('answers invalid_scope when the scope is missing or not /.default', async () => {
    const post = (scope?: string) =>
      fetch(`${entra.url}/${TENANT}/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: SECRET_APP.clientId,
          client_secret: SECRET_APP.secret,
          ...(scope ? { scope } : {}),
        }),
      });

    const missing = await post();
    const notDefault = await post('https://api.partnercenter.microsoft.com/user_impersonation');

    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_scope' });
    expect(notDefault.status).toBe(400);
    expect(await notDefault.json()).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
  });

  it('verifyAccessToken refuses expired, mis-addressed, foreign-issuer and other-tenant tokens', async () => {
    const audience = 'https://api.partnercenter.microsoft.com';
    const good = await entra.issueToken({ audience, clientId: SECRET_APP.clientId });
    const expired = await entra.issueToken({
      audience,
      clientId: SECRET_APP.clientId,
      expiresInSeconds: -60,
    });
    const otherAudience = await entra.issueToken({
      audience: 'https://vault.azure.net',
      clientId: SECRET_APP.clientId,
    });
    const foreignIssuer = await entra.issueToken({ audience, issuer: 'https://sts.windows.net/evil/' });
    const otherTenant = await entra.issueToken({ audience, tenantId: OTHER_TENANT });

    await expect(entra.verifyAccessToken(good, audience)).resolves.toMatchObject({
      iss: accessTokenIssuer(TENANT),
      roles: ['DeviceBatch.Read'],
    });
    await expect(entra.verifyAccessToken(expired, audience)).resolves.toBeUndefined();
    await expect(entra.verifyAccessToken(otherAudience, audience)).resolves.toBeUndefined();
    await expect(entra.verifyAccessToken(foreignIssuer, audience)).resolves.toBeUndefined();
    await expect(entra.verifyAccessToken(otherTenant, audience)).resolves.toBeDefined();
    await expect(
      entra.verifyAccessToken(otherTenant, audience, { tenantId: TENANT }),
    ).resolves.toBeUndefined();
    await expect(entra.verifyAccessToken('not.a.jwt', audience)).resolves.toBeUndefined();
  });

  it('fails the next token requests on demand, then recovers', async () => {
    entra.failNext({ status: 503, times: 2, retryAfterSeconds: 3 });
    const post = () =>
      fetch(`${entra.url}/${TENANT}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000001' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: SECRET_APP.clientId,
          client_secret: SECRET_APP.secret,
          scope: PARTNER_CENTER_SCOPE,
        }),
      });

    const first = await post();
    const second = await post();
    const third = await post();

    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('3');
    expect(await first.json()).toMatchObject({
      error: 'temporarily_unavailable',
      correlation_id: 'c0ffee00-0000-4000-8000-000000000001',
    });
    expect(second.status).toBe(503);
    expect(third.status).toBe(200);
    expect(await third.json()).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
    });
    expect(entra.counters).toMatchObject({
      tokenRequests: 3,
      injectedFailures: 2,
      failures: 2,
      tokensIssued: 1,
    });
  });

  it('lets the SDK ride out one injected 500 (its pipeline retries token requests)', async () => {
    entra.failNext({ status: 500 });

    await expect(secretCredential(SECRET_APP.secret).getToken(PARTNER_CENTER_SCOPE)).resolves.toBeDefined();

    expect(entra.counters).toMatchObject({ tokenRequests: 2, injectedFailures: 1, tokensIssued: 1 });
  });

  it('holds responses back while a delay is set', async () => {
    entra.delay(10_000);
    const slow = fetch(`${entra.url}/${TENANT}/discovery/v2.0/keys`, { signal: AbortSignal.timeout(200) });
    await expect(slow).rejects.toThrow(/aborted|timeout/i);

    entra.delay(0);
    const fast = await fetch(`${entra.url}/${TENANT}/discovery/v2.0/keys`, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(fast.status).toBe(200);
  });
});
