import { X509Certificate } from 'node:crypto';
import { ClientCertificateCredential, DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { createClientCertificate, createLocalTlsCertificate } from '../../../dev/simulators/tls.js';
import { developerSecretClient, simulatorCredential, startTestSimulators } from '../../support/simulators.js';

describe('startSimulators', () => {
  let sims: RunningSimulators;

  beforeAll(async () => {
    sims = await startTestSimulators();
  });
  afterAll(() => sims.stop());
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('returns the settings an app needs, all pointing at the running simulators', () => {
    expect(sims.env).toEqual({
      PARTNER_CENTER_BASE_URL: sims.partnerCenter.url,
      PARTNER_CENTER_TENANT_ID: sims.app.tenantId,
      PARTNER_CENTER_CLIENT_ID: sims.app.clientId,
      KEY_VAULT_URL: sims.keyVault.url,
      PARTNER_CENTER_SECRET_NAME: 'partner-center-app-secret',
      AZURE_AUTHORITY_HOST: sims.entra.url,
      AZURE_TENANT_ID: sims.developer.tenantId,
      AZURE_CLIENT_ID: sims.developer.clientId,
      AZURE_CLIENT_SECRET: sims.developer.clientSecret,
    });
    expect(new Set([sims.entra.url, sims.keyVault.url, sims.partnerCenter.url]).size).toBe(3);
    for (const url of [sims.entra.url, sims.keyVault.url, sims.partnerCenter.url]) {
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    }
  });

  it('lets DefaultAzureCredential (environment) read the app secret, then the app call Partner Center', async () => {
    for (const [name, value] of Object.entries(sims.env)) vi.stubEnv(name, value);
    const vault = new SecretClient(
      sims.env.KEY_VAULT_URL as string,
      new DefaultAzureCredential({ disableInstanceDiscovery: true }),
      {
        disableChallengeResourceVerification: true,
      },
    );

    const secret = await vault.getSecret(sims.env.PARTNER_CENTER_SECRET_NAME as string);
    const appCredential = simulatorCredential(sims.entra.url, {
      tenantId: sims.env.PARTNER_CENTER_TENANT_ID as string,
      clientId: sims.env.PARTNER_CENTER_CLIENT_ID as string,
      clientSecret: secret.value as string,
    });
    const token = await appCredential.getToken('https://api.partnercenter.microsoft.com/.default');
    const response = await fetch(
      `${sims.env.PARTNER_CENTER_BASE_URL}/v1/customers/47021739-3426-40bf-9601-61b4b6d7c793/batchJobStatus/0127ed8e-ff72-4983-a3d8-e8d8bd378932`,
      { headers: { Authorization: `Bearer ${token.token}` } },
    );

    expect(secret.value).toBe(sims.app.clientSecret);
    expect(response.status).toBe(200);
  });

  it('lets only the developer identity read the vault', async () => {
    const asApp = new SecretClient(sims.keyVault.url, simulatorCredential(sims.entra.url, sims.app), {
      disableChallengeResourceVerification: true,
    });

    await expect(developerSecretClient(sims).getSecret('partner-center-app-secret')).resolves.toBeDefined();
    await expect(asApp.getSecret('partner-center-app-secret')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('can store a PEM certificate instead, usable by ClientCertificateCredential', async () => {
    const withCertificate = await startTestSimulators({ appCredential: 'certificate' });
    try {
      const stored = await developerSecretClient(withCertificate).getSecret('partner-center-app-secret');
      expect(stored.properties.contentType).toBe('application/x-pem-file');
      expect(stored.value).toContain('-----BEGIN CERTIFICATE-----');
      expect(stored.value).toContain('-----BEGIN PRIVATE KEY-----');

      const credential = new ClientCertificateCredential(
        withCertificate.app.tenantId,
        withCertificate.app.clientId,
        { certificate: stored.value as string },
        { authorityHost: withCertificate.entra.url, disableInstanceDiscovery: true },
      );

      await expect(
        credential.getToken('https://api.partnercenter.microsoft.com/.default'),
      ).resolves.toBeDefined();
      expect(withCertificate.entra.counters.tokenRequestsByGrant.assertion).toBe(1);
    } finally {
      await withCertificate.stop();
    }
  });

  it('stops even while a keep-alive connection and an endless response are open', async () => {
    const extra = await startTestSimulators();
    const vaultUrl = extra.keyVault.url;
    await developerSecretClient(extra).getSecret('partner-center-app-secret');
    extra.partnerCenter.inject({ kind: 'endless' });
    const token = await extra.entra.issueToken({ audience: 'https://api.partnercenter.microsoft.com' });
    const streaming = await fetch(
      `${extra.partnerCenter.url}/v1/customers/47021739-3426-40bf-9601-61b4b6d7c793/batchJobStatus/0127ed8e-ff72-4983-a3d8-e8d8bd378932`,
      { headers: { Authorization: `Bearer ${token}` } },
    );
    expect(streaming.status).toBe(200);

    // server.close() alone would wait for the endless response forever: stop() must cut it.
    await extra.stop();

    await expect(streaming.text()).rejects.toThrow();
    await expect(fetch(`${vaultUrl}/secrets/x?api-version=2025-07-01`)).rejects.toThrow();
    expect(() => extra.entra.url).toThrow(/not started/);
  });
});

describe('certificates', () => {
  it('makes a local CA certificate for localhost, 127.0.0.1 and ::1', async () => {
    const tls = await createLocalTlsCertificate();
    const x509 = new X509Certificate(tls.cert);

    expect(x509.ca).toBe(true);
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x509.subjectAltName).toMatch(/IP Address:(::1|0:0:0:0:0:0:0:1)/);
    expect(x509.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(x509.checkPrivateKey((await import('node:crypto')).createPrivateKey(tls.key))).toBe(true);
  });

  it('makes a client certificate whose thumbprints match its DER encoding', async () => {
    const client = await createClientCertificate('unit-test-app');
    const x509 = new X509Certificate(client.certPem);

    expect(client.pem).toBe(client.certPem + client.keyPem);
    expect(x509.subject).toBe('CN=unit-test-app');
    expect(x509.fingerprint.replace(/:/g, '').toLowerCase()).toBe(client.thumbprintSha1Hex);
    expect(x509.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(client.thumbprintSha256Hex);
  });
});
