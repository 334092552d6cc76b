import { RestError } from '@azure/core-rest-pipeline';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EntraSimulator } from '../../../dev/simulators/entra.js';
import { KeyVaultSimulator } from '../../../dev/simulators/key-vault.js';
import { testTls } from '../../support/simulators.js';

const TENANT = '2c4e6a8b-0d1f-4a3c-8e5b-7d9f1a3c5e70';
const READER = { clientId: 'bbbbbbbb-1111-4222-8333-444444444444', secret: 'reader~secret' };
const OUTSIDER = { clientId: 'cccccccc-1111-4222-8333-444444444444', secret: 'outsider~secret' };

describe('KeyVaultSimulator', () => {
  const tls = testTls();
  const entra = new EntraSimulator({ tls });
  const vault = new KeyVaultSimulator({ tls, entra, tenantId: TENANT });

  const clientFor = (app: { clientId: string; secret: string }, maxRetries?: number) =>
    new SecretClient(
      vault.url,
      new ClientSecretCredential(TENANT, app.clientId, app.secret, {
        authorityHost: entra.url,
        disableInstanceDiscovery: true,
      }),
      {
        disableChallengeResourceVerification: true,
        ...(maxRetries !== undefined ? { retryOptions: { maxRetries } } : {}),
      },
    );
  const tokenFor = (audience: string) =>
    entra.issueToken({ audience, clientId: READER.clientId, tenantId: TENANT });

  beforeAll(async () => {
    await entra.start();
    await vault.start();
    entra.registerApplication({ tenantId: TENANT, clientId: READER.clientId, secrets: [READER.secret] });
    entra.registerApplication({ tenantId: TENANT, clientId: OUTSIDER.clientId, secrets: [OUTSIDER.secret] });
  });
  afterAll(async () => {
    await vault.stop();
    await entra.stop();
  });
  beforeEach(() => {
    vault.reset();
    entra.reset();
    vault.restrictAccessTo(undefined);
  });

  it('serves the latest and a given version to SecretClient through the challenge flow', async () => {
    const first = vault.setSecret('app-secret', 'one', {
      contentType: 'text/plain',
      tags: { owner: 'tests' },
    });
    const second = vault.setSecret('app-secret', 'two');
    const client = clientFor(READER);

    const latest = await client.getSecret('app-secret');
    const older = await client.getSecret('app-secret', { version: first.version });

    expect(latest.value).toBe('two');
    expect(latest.properties).toMatchObject({
      id: second.id,
      version: second.version,
      name: 'app-secret',
      vaultUrl: vault.url,
      enabled: true,
      recoveryLevel: 'Recoverable+Purgeable',
    });
    expect(latest.properties.createdOn).toBeInstanceOf(Date);
    expect(older).toMatchObject({
      value: 'one',
      properties: { contentType: 'text/plain', tags: { owner: 'tests' } },
    });
    expect(vault.counters).toMatchObject({
      challenges: 1,
      secretReads: 2,
      secretReadsByName: { 'app-secret': 2 },
    });
    expect(entra.counters.tokensIssued).toBe(1);
  });

  it('shows a rotation (a new version) to the next read', async () => {
    vault.setSecret('rotating', 'before');
    const client = clientFor(READER);
    expect((await client.getSecret('rotating')).value).toBe('before');

    vault.setSecret('rotating', 'after');

    expect((await client.getSecret('rotating')).value).toBe('after');
  });

  it('answers 404 SecretNotFound as a RestError', async () => {
    const attempt = clientFor(READER).getSecret('does-not-exist');

    await expect(attempt).rejects.toBeInstanceOf(RestError);
    await expect(attempt).rejects.toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    await expect(attempt).rejects.toThrow(
      /A secret with \(name\/id\) does-not-exist was not found in this key vault/,
    );
  });

  it('stores a secret set through SecretClient (PUT) as a new version', async () => {
    const client = clientFor(READER);

    const written = await client.setSecret('written', 'value-1', { contentType: 'application/x-pem-file' });

    expect(vault.getSecretValue('written')).toBe('value-1');
    expect(vault.getSecretValue('written', written.properties.version)).toBe('value-1');
    expect((await client.getSecret('written')).properties.contentType).toBe('application/x-pem-file');
    expect(vault.counters.secretWrites).toBe(1);
    const versions = [];
    for await (const properties of client.listPropertiesOfSecretVersions('written'))
      versions.push(properties.version);
    expect(versions).toEqual([written.properties.version]);
  });

  it('challenges an unauthenticated request the way Key Vault does', async () => {
    const response = await fetch(`${vault.url}/secrets/anything?api-version=2025-07-01`);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${entra.url}/${TENANT}", resource="https://vault.azure.net"`,
    );
    expect(await response.json()).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('refuses tokens for another audience, and accepts the path with or without a trailing slash', async () => {
    vault.setSecret('slashes', 'ok');
    const get = async (path: string, audience: string) =>
      fetch(`${vault.url}${path}?api-version=2025-07-01`, {
        headers: { Authorization: `Bearer ${await tokenFor(audience)}` },
      });

    const wrongAudience = await get('/secrets/slashes', 'https://api.partnercenter.microsoft.com');
    const withSlash = await get('/secrets/slashes/', 'https://vault.azure.net');
    const withoutSlash = await get('/secrets/slashes', 'https://vault.azure.net');

    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.headers.get('www-authenticate')).toContain('resource="https://vault.azure.net"');
    expect(withSlash.status).toBe(200);
    expect(await withSlash.json()).toMatchObject({ value: 'ok' });
    expect(withoutSlash.status).toBe(200);
    expect(vault.counters.rejectedTokens).toBe(1);
  });

  it('forbids callers outside the allowed list with ForbiddenByRbac', async () => {
    vault.setSecret('guarded', 'x');
    vault.restrictAccessTo([READER.clientId]);

    await expect(clientFor(READER).getSecret('guarded')).resolves.toMatchObject({ value: 'x' });
    const refused = clientFor(OUTSIDER).getSecret('guarded');
    await expect(refused).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden' });
    await expect(refused).rejects.toThrow(/Caller is not authorized to perform action on resource/);
  });

  it('injects 403 and 5xx failures, per secret name, until they are used up or reset', async () => {
    vault.setSecret('flaky', 'v');
    vault.setSecret('steady', 'v');
    const client = clientFor(READER, 0);

    vault.failNext({ status: 403 });
    await expect(client.getSecret('flaky')).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden' });
    vault.failNext({ status: 503, secretName: 'flaky', times: 2 });
    await expect(client.getSecret('steady')).resolves.toMatchObject({ value: 'v' });
    await expect(client.getSecret('flaky')).rejects.toMatchObject({
      statusCode: 503,
      code: 'ServiceUnavailable',
    });
    expect(vault.counters.injectedFailures).toBe(2);

    vault.reset();

    await expect(client.getSecret('flaky')).resolves.toMatchObject({ value: 'v' });
    expect(vault.counters).toMatchObject({ injectedFailures: 0, secretReads: 1 });
  });
});
