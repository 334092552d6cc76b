import { AppServices } from '../shared/composition.js';
import { SettingsError } from '../shared/config/settings.js';
import { CredentialError } from '../shared/credentials/app-credential.js';
import { ConsentFailedError, consentWithDeviceCode } from '../shared/credentials/device-code-consent.js';
import { TokenEndpointError } from '../shared/credentials/token-endpoint.js';

/**
 * `npm run consent`: the one-time admin sign-in of the App+User mode (README, "App+User
 * credentials"). Reads the app's settings from the environment (PARTNER_CENTER_TENANT_ID,
 * PARTNER_CENTER_CLIENT_ID, KEY_VAULT_URL, PARTNER_CENTER_SECRET_NAME,
 * PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME, AZURE_AUTHORITY_HOST) and reaches the vault as the
 * person running it (DefaultAzureCredential: `az login`, or AZURE_* variables), who needs Key Vault
 * Secrets Officer on the refresh-token secret. The token itself is never printed.
 */
async function main(): Promise<number> {
  const services = new AppServices(process.env);
  try {
    const { refreshTokens, endpoint, scope } = services.secureApplicationModel;
    process.stdout.write(
      `Consent for app ${services.settings.partnerCenter.clientId} in tenant ${services.settings.partnerCenter.tenantId}, scope '${scope}'.\n`,
    );
    const stored = await consentWithDeviceCode({
      endpoint,
      scope,
      appMaterial: services.appCredential,
      refreshTokens,
      prompt: (authorization) => {
        process.stdout.write(
          `\n${authorization.message ?? `Open ${authorization.verificationUri} and enter the code ${authorization.userCode}.`}\n` +
            'Sign in as an admin of the partner tenant, with MFA (Partner Center refuses App+User tokens without it).\n' +
            `Waiting for the sign-in (the code is valid for ${Math.round(authorization.expiresInSeconds / 60)} minutes)…\n`,
        );
      },
    });
    process.stdout.write(
      `\nStored the refresh token as version ${stored.version ?? '(unknown)'} of ${refreshTokens.description}.\n` +
        'The app uses it from its next token exchange; with PARTNER_CENTER_AUTH_MODE=app_user it keeps it alive by writing each rotated one back.\n',
    );
    return 0;
  } catch (error) {
    const known =
      error instanceof SettingsError ||
      error instanceof CredentialError ||
      error instanceof ConsentFailedError ||
      error instanceof TokenEndpointError;
    const message = error instanceof SettingsError ? error.problems.join('\n  ') : (error as Error).message;
    process.stderr.write(
      `npm run consent failed: ${known ? message : `${(error as Error).name}: ${message}`}\n`,
    );
    return 1;
  }
}

process.exitCode = await main();
