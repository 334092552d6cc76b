import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import {
  CredentialError,
  KeyVaultCredentialSource,
  PEM_CONTENT_TYPE,
} from '../../../shared/credentials/app-credential.js';
import {
  KeyVaultRefreshTokenStore,
  REFRESH_TOKEN_CONTENT_TYPE,
} from '../../../shared/credentials/refresh-token-store.js';
import { rejectionOf } from '../../support/rejection.js';
import { developerSecretClient, startTestSimulators } from '../../support/simulators.js';

// The two Key Vault readers of shared/credentials with a real SecretClient against the vault
// simulator: what they read and write (content type, tags), and what they say when the vault
// refuses, in words a person can act on and without any secret value.

let sims: RunningSimulators;
let secrets: SecretClient;

beforeAll(async () => {
  sims = await startTestSimulators();
  secrets = developerSecretClient(sims);
});

afterAll(async () => {
  await sims?.stop();
});

beforeEach(() => {
  sims.keyVault.reset();
});

const failure = (promise: Promise<unknown>) => rejectionOf(promise, CredentialError);

/** A SecretClient whose identity cannot get a token at all (no statusCode on the failure). */
function unavailableIdentityClient(): SecretClient {
  const identity: TokenCredential = {
    async getToken(): Promise<AccessToken | null> {
      throw Object.assign(new Error('no identity on this machine'), { name: 'CredentialUnavailableError' });
    },
  };
  return new SecretClient(sims.keyVault.url, identity, { disableChallengeResourceVerification: true });
}

describe('KeyVaultCredentialSource', () => {
  it('reads the value, its content type and version, and names the secret for messages', async () => {
    const ref = sims.keyVault.setSecret('kv-test-cert', 'pem-text', { contentType: PEM_CONTENT_TYPE });
    const source = new KeyVaultCredentialSource(secrets, 'kv-test-cert');
    expect(source.description).toBe(`Key Vault secret 'kv-test-cert' in ${sims.keyVault.url}`);
    expect(await source.read()).toEqual({
      value: 'pem-text',
      contentType: PEM_CONTENT_TYPE,
      version: ref.version,
    });
  });

  it('a secret without a value says so', async () => {
    sims.keyVault.setSecret('kv-test-empty', '');
    const source = new KeyVaultCredentialSource(secrets, 'kv-test-empty');
    const error = await failure(source.read());
    expect(error).toMatchObject({ stage: 'key_vault', statusCode: undefined });
    expect(error.message).toBe(`${source.description} has no value`);
  });

  it.each([
    [404, 'was not found'],
    [403, 'could not be read: the app identity lacks the Key Vault Secrets User role'],
    [409, 'could not be read (409)'],
  ])('a %i from the vault: "%s", with the status and the SDK error as cause', async (status, reason) => {
    sims.keyVault.setSecret('kv-test-secret', 'the-secret-value');
    if (status === 404) sims.keyVault.deleteSecret('kv-test-secret');
    else sims.keyVault.failNext({ status, secretName: 'kv-test-secret' });
    const source = new KeyVaultCredentialSource(secrets, 'kv-test-secret');
    const error = await failure(source.read());
    expect(error).toMatchObject({ stage: 'key_vault', statusCode: status });
    expect(error.message).toBe(`${source.description} ${reason}`);
    expect(error.message).not.toContain('the-secret-value');
    expect((error.cause as { statusCode?: number }).statusCode).toBe(status);
  });

  it('an aborted read is named by its error, and the vault is not asked', async () => {
    const source = new KeyVaultCredentialSource(secrets, 'kv-test-secret');
    const error = await failure(source.read({ abortSignal: AbortSignal.abort() }));
    expect(error.message).toBe(`${source.description} could not be read (AbortError)`);
    expect(sims.keyVault.counters.secretReads).toBe(0);
  });
});

describe('KeyVaultRefreshTokenStore', () => {
  const NAME = 'kv-test-refresh-token';
  const store = () => new KeyVaultRefreshTokenStore(secrets, NAME);

  beforeEach(() => {
    sims.keyVault.deleteSecret(NAME);
  });

  it('writes each token as a new version, typed and tagged with when and by whom', async () => {
    const rotatedAt = new Date('2026-12-01T10:00:00.000Z');
    const stored = await store().write('rt-rotated', { rotatedAt, writer: 'rotation' });
    await store().write('rt-consented', { rotatedAt, writer: 'consent' });
    const versions = sims.keyVault.listVersions(NAME);
    expect(versions).toEqual([
      {
        version: stored.version,
        value: 'rt-rotated',
        contentType: REFRESH_TOKEN_CONTENT_TYPE,
        tags: { rotatedAt: '2026-12-01T10:00:00.000Z', writtenBy: 'device-batch-status rotation' },
      },
      {
        version: expect.any(String),
        value: 'rt-consented',
        contentType: REFRESH_TOKEN_CONTENT_TYPE,
        tags: { rotatedAt: '2026-12-01T10:00:00.000Z', writtenBy: 'npm run consent' },
      },
    ]);
    expect(stored).toEqual({ value: 'rt-rotated', version: versions[0]?.version, rotatedAt });
    expect(REFRESH_TOKEN_CONTENT_TYPE).toBe(
      'application/vnd.entra.refresh-token; scope=partner-center-user-impersonation',
    );
  });

  it('reads the latest version with its rotatedAt tag', async () => {
    sims.keyVault.setSecret(NAME, 'rt-old', { tags: { rotatedAt: '2026-11-01T00:00:00.000Z' } });
    const latest = sims.keyVault.setSecret(NAME, 'rt-new', {
      tags: { rotatedAt: '2026-12-01T08:30:00.000Z' },
    });
    expect(await store().read()).toEqual({
      value: 'rt-new',
      version: latest.version,
      rotatedAt: new Date('2026-12-01T08:30:00.000Z'),
    });
  });

  it.each([
    ['without the tag', undefined],
    ['with a tag that is no date', { rotatedAt: 'yesterday' }],
  ])('falls back to the version creation time %s', async (_, tags) => {
    sims.keyVault.setSecret(NAME, 'rt', tags ? { tags } : {});
    const { properties } = await secrets.getSecret(NAME);
    expect(properties.createdOn).toBeInstanceOf(Date);
    expect((await store().read())?.rotatedAt).toEqual(properties.createdOn);
  });

  it('no secret, or an empty one, is no refresh token (nobody has consented)', async () => {
    expect(await store().read()).toBeUndefined();
    sims.keyVault.setSecret(NAME, '');
    expect(await store().read()).toBeUndefined();
  });

  it.each([
    [403, 'could not be read: the identity lacks the Key Vault Secrets User role'],
    [409, 'could not be read (409)'],
  ])('a %i on read: "%s"', async (status, reason) => {
    sims.keyVault.setSecret(NAME, 'rt-secret-value');
    sims.keyVault.failNext({ status, secretName: NAME });
    const error = await failure(store().read());
    expect(error).toMatchObject({ stage: 'key_vault', statusCode: status });
    expect(error.message).toBe(`Key Vault secret '${NAME}' in ${sims.keyVault.url} ${reason}`);
    expect((error.cause as { statusCode?: number }).statusCode).toBe(status);
  });

  it.each([
    [403, 'could not be written: the identity lacks the Key Vault Secrets Officer on this secret role'],
    [409, 'could not be written (409)'],
  ])('a %i on write: "%s", without the token', async (status, reason) => {
    sims.keyVault.failNext({ status, secretName: NAME });
    const error = await failure(
      store().write('rt-secret-value', { rotatedAt: new Date(), writer: 'rotation' }),
    );
    expect(error).toMatchObject({ stage: 'key_vault', statusCode: status });
    expect(error.message).toBe(`Key Vault secret '${NAME}' in ${sims.keyVault.url} ${reason}`);
    expect(error.message).not.toContain('rt-secret-value');
    expect(sims.keyVault.listVersions(NAME)).toEqual([]);
  });

  it('an identity that cannot get a token is named by its error', async () => {
    const unavailable = new KeyVaultRefreshTokenStore(unavailableIdentityClient(), NAME);
    const error = await failure(unavailable.read());
    expect(error).toMatchObject({ stage: 'key_vault', statusCode: undefined });
    expect(error.message).toBe(
      `Key Vault secret '${NAME}' in ${sims.keyVault.url} could not be read (CredentialUnavailableError)`,
    );
    expect((error.cause as Error).message).toContain('no identity on this machine');
  });
});
