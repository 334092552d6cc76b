import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../../shared/config/settings.js';

function failure(env: Record<string, string>): SettingsError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('expected loadSettings to fail');
}

describe('settings', () => {
  it('fills every documented default from an empty environment', () => {
    const settings = loadSettings({});
    expect(settings.partnerCenter.baseUrl).toBe('https://api.partnercenter.microsoft.com');
    expect(settings.partnerCenter.scope).toBe('https://api.partnercenter.microsoft.com/.default');
    expect(settings.credential.secretName).toBe('partner-center-app-secret');
    expect(settings.sweep.schedule).toBe('0 */5 * * * *');
    expect(settings.storage.connection).toBeUndefined();
    expect(settings.telemetry.connectionString).toBeUndefined();
    expect(settings.runningInAzure).toBe(false);
    expect(settings.loopbackCloud).toBe(false);
  });

  it('reads the credential mode: app by default, app_user with its refresh-token secret, nothing else', () => {
    expect(loadSettings({}).credential).toMatchObject({
      authMode: 'app',
      refreshTokenSecretName: 'partner-center-refresh-token',
    });
    expect(
      loadSettings({ PARTNER_CENTER_AUTH_MODE: 'app_user', PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: 'rt-1' })
        .credential,
    ).toMatchObject({ authMode: 'app_user', refreshTokenSecretName: 'rt-1' });
    expect(failure({ PARTNER_CENTER_AUTH_MODE: 'user' }).problems).toEqual([
      `PARTNER_CENTER_AUTH_MODE must be 'app' or 'app_user' (got "user")`,
    ]);
    expect(failure({ PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: 'no_underscores' }).problems[0]).toMatch(
      /^PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME must be 1-127 letters, digits and dashes/,
    );
    expect(
      failure({
        PARTNER_CENTER_AUTH_MODE: 'app_user',
        PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: 'partner-center-app-secret',
      }).problems,
    ).toEqual([
      expect.stringMatching(
        /^PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME must differ from PARTNER_CENTER_SECRET_NAME/,
      ),
    ]);
  });

  it('names every bad setting and what is wrong with it, in one error', () => {
    const error = failure({
      PARTNER_CENTER_BASE_URL: 'http://api.partnercenter.microsoft.com',
      PARTNER_CENTER_CLIENT_ID: 'not-a-guid',
      SWEEP_SCHEDULE: '*/5 * * * *',
      SWEEP_CONCURRENCY: '0',
    });
    expect(error.problems).toHaveLength(4);
    expect(error.message).toContain('PARTNER_CENTER_BASE_URL must be an absolute https:// URL');
    expect(error.message).toContain('PARTNER_CENTER_CLIENT_ID must be a GUID');
    expect(error.message).toContain('SWEEP_SCHEDULE must be an NCRONTAB expression with six fields');
    expect(error.message).toContain('SWEEP_CONCURRENCY must be greater than 0');
  });

  it('checks CALLER_AUTH_TENANT_ID once: a GUID, required with CALLER_AUTH_AUDIENCE, kept lower case', () => {
    const audience = 'api://device-batch-status';
    const tenant = '47021739-3426-40BF-9601-61B4B6D7C793';
    expect(
      loadSettings({ CALLER_AUTH_AUDIENCE: audience, CALLER_AUTH_TENANT_ID: tenant }).callerAuth,
    ).toMatchObject({
      audience,
      tenantId: tenant.toLowerCase(),
    });
    expect(
      failure({ CALLER_AUTH_AUDIENCE: audience, CALLER_AUTH_TENANT_ID: 'contoso.onmicrosoft.com' }).problems,
    ).toEqual(['CALLER_AUTH_TENANT_ID must be a GUID (got "contoso.onmicrosoft.com")']);
    expect(failure({ CALLER_AUTH_AUDIENCE: audience }).problems).toEqual([
      'CALLER_AUTH_TENANT_ID is required (the tenant GUID) when CALLER_AUTH_AUDIENCE is set',
    ]);
    expect(loadSettings({}).callerAuth.audience).toBeUndefined();
  });

  it('never echoes the value of a secret-bearing setting', () => {
    const error = failure({ TRACKING_STORAGE: 'super-secret-value-123' });
    expect(error.message).toContain('TRACKING_STORAGE must be a storage connection string');
    expect(error.message).not.toContain('super-secret-value-123');
  });

  it('refuses the local client secret when running in Azure', () => {
    const error = failure({ WEBSITE_INSTANCE_ID: 'abc', PARTNER_CENTER_CLIENT_SECRET: 'canary-secret' });
    expect(error.message).toContain('PARTNER_CENTER_CLIENT_SECRET is for local development only');
    expect(error.message).not.toContain('canary-secret');
    expect(loadSettings({ PARTNER_CENTER_CLIENT_SECRET: 'local' }).credential.localClientSecret).toBe(
      'local',
    );
  });

  it('applies the loopback rule only to loopback vaults and authorities', () => {
    expect(loadSettings({ KEY_VAULT_URL: 'https://127.0.0.1:8443' }).loopbackCloud).toBe(true);
    expect(loadSettings({ AZURE_AUTHORITY_HOST: 'https://localhost:9443/' }).loopbackCloud).toBe(true);
    expect(loadSettings({ KEY_VAULT_URL: 'https://kv-prod.vault.azure.net/' }).loopbackCloud).toBe(false);
  });

  it('reads TRACKING_STORAGE first, then AzureWebJobsStorage, including identity-based connections', () => {
    const azurite =
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a;BlobEndpoint=http://127.0.0.1:1/x';
    expect(loadSettings({ AzureWebJobsStorage: azurite }).storage.connection).toMatchObject({
      kind: 'connectionString',
      settingName: 'AzureWebJobsStorage',
    });
    expect(
      loadSettings({ AzureWebJobsStorage: azurite, TRACKING_STORAGE: 'UseDevelopmentStorage=true' }).storage
        .connection,
    ).toMatchObject({
      kind: 'connectionString',
      settingName: 'TRACKING_STORAGE',
    });
    expect(loadSettings({ TRACKING_STORAGE__accountName: 'stbatchstatus' }).storage.connection).toEqual({
      kind: 'identity',
      tableServiceUri: 'https://stbatchstatus.table.core.windows.net',
      blobServiceUri: 'https://stbatchstatus.blob.core.windows.net',
      managedIdentityClientId: undefined,
      settingName: 'TRACKING_STORAGE',
    });
    expect(
      failure({ TRACKING_STORAGE__tableServiceUri: 'https://x.table.core.windows.net' }).message,
    ).toContain(
      'TRACKING_STORAGE__tableServiceUri and TRACKING_STORAGE__blobServiceUri must be set together',
    );
  });
});
