import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import {
  AppCredential,
  CredentialError,
  KeyVaultCredentialSource,
} from '../../../shared/credentials/app-credential.js';
import { startTestSimulators } from '../../support/simulators.js';

const SCOPE = 'https://api.partnercenter.microsoft.com/.default';
let sims: RunningSimulators;
let certSims: RunningSimulators;

beforeAll(async () => {
  [sims, certSims] = await Promise.all([
    startTestSimulators(),
    startTestSimulators({ appCredential: 'certificate' }),
  ]);
});

afterAll(async () => {
  await Promise.all([sims?.stop(), certSims?.stop()]);
});

beforeEach(() => {
  for (const s of [sims, certSims]) {
    s.keyVault.reset();
    s.entra.reset();
  }
});

/** The app credential as the composition root builds it: SecretClient through DefaultAzureCredential. */
function appCredential(
  target: RunningSimulators,
  options: { ttlMs?: number; now?: () => number; secretName?: string } = {},
) {
  // DefaultAzureCredential finds the developer identity through the AZURE_* variables, as on a laptop.
  Object.assign(process.env, {
    AZURE_TENANT_ID: target.env.AZURE_TENANT_ID,
    AZURE_CLIENT_ID: target.env.AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET: target.env.AZURE_CLIENT_SECRET,
    AZURE_AUTHORITY_HOST: target.entra.url,
  });
  const secrets = new SecretClient(
    target.keyVault.url,
    new DefaultAzureCredential({ disableInstanceDiscovery: true, authorityHost: target.entra.url }),
    { disableChallengeResourceVerification: true },
  );
  return new AppCredential({
    tenantId: target.app.tenantId,
    clientId: target.app.clientId,
    source: new KeyVaultCredentialSource(secrets, options.secretName ?? 'partner-center-app-secret'),
    cacheTtlMs: options.ttlMs ?? 60_000,
    authorityHost: target.entra.url,
    disableInstanceDiscovery: true,
    now: options.now,
  });
}

describe('AppCredential', () => {
  it('shares one vault read and one token request among 50 concurrent cold callers', async () => {
    const credential = appCredential(sims);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => credential.getToken(SCOPE)));
    expect(new Set(tokens.map((t) => t?.token)).size).toBe(1);
    expect(sims.keyVault.counters.secretReads).toBe(1);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(1);
  });

  it('authenticates with a PEM certificate stored in the vault', async () => {
    const credential = appCredential(certSims);
    const token = await credential.getToken(SCOPE);
    expect(token?.token).toBeTruthy();
    expect(certSims.entra.counters.tokenRequestsByGrant.assertion).toBe(1);
    const claims = await certSims.entra.verifyAccessToken(
      token!.token,
      'https://api.partnercenter.microsoft.com',
    );
    expect(claims?.appid).toBe(certSims.app.clientId);
  });

  it('re-reads the vault after its TTL, and keeps the token cache while the secret is unchanged', async () => {
    let now = 1_000_000;
    const credential = appCredential(sims, { ttlMs: 1000, now: () => now });
    await credential.getToken(SCOPE);
    now += 1001;
    await credential.getToken(SCOPE);
    expect(sims.keyVault.counters.secretReads).toBe(2);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(1);
  });

  it('picks up a rotated secret after invalidate()', async () => {
    const credential = appCredential(sims);
    await credential.getToken(SCOPE);
    const rotated = 'pc~rotated-in-credential-test';
    sims.keyVault.setSecret('partner-center-app-secret', rotated);
    sims.entra.setApplicationSecrets(sims.app.clientId, [rotated]);
    try {
      credential.invalidate();
      const token = await credential.getToken(SCOPE);
      expect(token?.token).toBeTruthy();
      expect(sims.keyVault.counters.secretReads).toBe(2);
      expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(2);
    } finally {
      // Back to the original secret, so the other tests run against it whatever their order.
      sims.keyVault.setSecret('partner-center-app-secret', sims.app.clientSecret);
      sims.entra.setApplicationSecrets(sims.app.clientId, [sims.app.clientSecret]);
    }
  });

  it('says which secret is missing, without any secret value', async () => {
    const credential = appCredential(sims, { secretName: 'no-such-secret' });
    const error = await credential.getToken(SCOPE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect((error as CredentialError).stage).toBe('key_vault');
    expect((error as Error).message).toContain("Key Vault secret 'no-such-secret'");
    expect((error as Error).message).toContain('was not found');
  });

  it('reports a vault that refuses the identity as a missing role', async () => {
    sims.keyVault.failNext({ status: 403 });
    const error = await appCredential(sims)
      .getToken(SCOPE)
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('lacks the Key Vault Secrets User role');
  });

  it('reports an invalid_client from Entra ID as a token failure, without the secret', async () => {
    sims.entra.setApplicationSecrets(sims.app.clientId, ['something-else']);
    try {
      const error = await appCredential(sims)
        .getToken(SCOPE)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CredentialError);
      expect((error as CredentialError).stage).toBe('token');
      expect((error as Error).message).toContain('invalid_client');
      expect((error as Error).message).not.toContain(sims.app.clientSecret);
    } finally {
      sims.entra.setApplicationSecrets(sims.app.clientId, [sims.app.clientSecret]);
    }
  });
});
