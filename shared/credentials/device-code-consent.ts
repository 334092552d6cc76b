import { setTimeout as delay } from 'node:timers/promises';
import type { CredentialMaterial } from './app-credential.js';
import type { RefreshTokenStore, StoredRefreshToken } from './refresh-token-store.js';
import { type DeviceAuthorization, type EntraTokenEndpoint, TokenEndpointError } from './token-endpoint.js';

export interface DeviceCodeConsentOptions {
  endpoint: EntraTokenEndpoint;
  /** `{resource}/user_impersonation offline_access`: the same scopes the app's exchanges ask for. */
  scope: string;
  /** The app's own secret or certificate: the refresh token is bound to the confidential client. */
  appMaterial: { current(): Promise<{ material: CredentialMaterial }> };
  refreshTokens: RefreshTokenStore;
  /** Shows the admin where to sign in and which code to enter. */
  prompt: (authorization: DeviceAuthorization) => void;
  abortSignal?: AbortSignal;
  now?: () => number;
}

/** Why a consent did not end with a stored refresh token; the message says what to do. */
export class ConsentFailedError extends Error {
  override readonly name = 'ConsentFailedError';
}

/**
 * The one-time sign-in of the secure application model, with the OAuth 2.0 device authorization
 * grant (RFC 8628): Entra shows a code, an admin of the partner tenant enters it in any browser
 * and signs in (with MFA), and the refresh token that comes back is stored in the vault as a new
 * version — the one the app exchanges from then on.
 */
export async function consentWithDeviceCode(options: DeviceCodeConsentOptions): Promise<StoredRefreshToken> {
  const now = options.now ?? Date.now;
  const { material } = await options.appMaterial.current();
  const authorization = await options.endpoint.startDeviceAuthorization(options.scope, options.abortSignal);
  options.prompt(authorization);

  const expiresAt = now() + authorization.expiresInSeconds * 1000;
  let intervalMs = authorization.intervalSeconds * 1000;
  for (;;) {
    if (intervalMs > 0) await delay(intervalMs, undefined, { signal: options.abortSignal });
    if (now() >= expiresAt)
      throw new ConsentFailedError('The code expired before the sign-in finished: run the command again.');
    try {
      const answer = await options.endpoint.redeemDeviceCode(
        authorization.deviceCode,
        material,
        options.abortSignal,
      );
      if (!answer.refreshToken) {
        throw new ConsentFailedError(
          "Microsoft Entra ID answered without a refresh token: the offline_access scope was not granted. Check the app registration's API permissions.",
        );
      }
      return await options.refreshTokens.write(answer.refreshToken, {
        rotatedAt: new Date(now()),
        writer: 'consent',
      });
    } catch (error) {
      if (!(error instanceof TokenEndpointError)) throw error;
      // RFC 8628 §3.5: keep polling while pending; slow down by 5 s when asked.
      if (error.error === 'authorization_pending') continue;
      if (error.error === 'slow_down') {
        intervalMs += 5000;
        continue;
      }
      throw new ConsentFailedError(consentFailure(error));
    }
  }
}

function consentFailure(error: TokenEndpointError): string {
  switch (error.error) {
    case 'authorization_declined':
    case 'access_denied':
      return 'The sign-in was declined: nothing was stored.';
    case 'expired_token':
      return 'The code expired before the sign-in finished: run the command again.';
    case 'invalid_client':
    case 'unauthorized_client':
      return `Microsoft Entra ID refused the app's own credential (${error.message}). Check PARTNER_CENTER_CLIENT_ID and the secret or certificate in PARTNER_CENTER_SECRET_NAME.`;
    default:
      return `Microsoft Entra ID refused the sign-in: ${error.message}`;
  }
}
