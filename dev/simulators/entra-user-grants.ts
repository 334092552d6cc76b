import { randomBytes } from 'node:crypto';
import { withoutUndefined } from '../../shared/objects/without-undefined.js';
import { bump, newGuid } from './https-server.js';

/**
 * The user side of the Entra ID simulator: the grants behind the secure application model.
 *
 * - Device authorization (RFC 8628): `POST /{tenant}/oauth2/v2.0/devicecode` starts a sign-in; the
 *   token endpoint's `urn:ietf:params:oauth:grant-type:device_code` grant answers
 *   `authorization_pending` until it is approved ({@link UserGrants.approveDeviceCode}, or at once
 *   with {@link UserGrantOptions.autoApprove}), then an access token and a refresh token.
 * - `grant_type=refresh_token`: a new access token and a NEW refresh token on every exchange
 *   (rotation). With {@link UserGrantOptions.revokeOnRotation} the old one is revoked at once — harsher
 *   than Entra, which keeps it valid, and exactly what shows a token lost by a writer that races.
 *   A revoked token answers `invalid_grant` (AADSTS50173), one unused for longer than
 *   `maxInactiveMs` (90 days) AADSTS700082, an unknown one AADSTS9002313.
 * - User tokens carry `idtyp: user`, `scp` (e.g. `user_impersonation`), `amr` (`pwd`, plus `mfa`
 *   when the sign-in had MFA), `upn`, `name` and the user's `oid`.
 *
 * Client authentication (secret or assertion) is checked by the token endpoint before a grant runs:
 * these refresh tokens are bound to the confidential client they were issued to.
 */

/** The admin who signs in: who the user tokens speak for. */
export interface SimulatedUser {
  oid: string;
  upn: string;
  name: string;
  /** Whether the sign-in used MFA (`amr` has `mfa`). */
  mfa: boolean;
}

/** Options of {@link UserGrants}; all may be changed later with {@link UserGrants.configure}. */
export interface UserGrantOptions {
  /** Revoke a refresh token as soon as it is exchanged (default false, as Entra). */
  revokeOnRotation?: boolean;
  /** Inactivity after which a refresh token dies (default 90 days). */
  maxInactiveMs?: number;
  /** Approve every device code as soon as it is issued, as this user (default: wait for an approval). */
  autoApprove?: Partial<SimulatedUser> | false;
  /** `interval` of device codes, seconds (default 5, as Entra). */
  deviceCodeIntervalSeconds?: number;
}

/** Counters of the user grants, since start or the last reset. */
export interface UserGrantCounters {
  /** Token requests with `grant_type=refresh_token`. */
  refreshExchanges: number;
  /** Refresh exchanges by the client id that made them. */
  refreshExchangesByClientId: Record<string, number>;
  refreshTokensIssued: number;
  /** `invalid_grant` answers to refresh exchanges. */
  invalidGrants: number;
  deviceCodesIssued: number;
  /** Token requests with the device-code grant, pending ones included. */
  deviceCodePolls: number;
}

/** What a grant asks the token endpoint to sign and answer. */
export interface UserTokenGrant {
  clientId: string;
  tenantId: string;
  user: SimulatedUser;
  /** Resource of the access token (`aud`). */
  resource: string;
  /** `scp`: the requested scopes of that resource, without its URI. */
  scopes: string[];
  /** The refresh token to hand back, when `offline_access` was asked for. */
  refreshToken?: string;
}

/** An OAuth error the token endpoint answers as Entra does. */
export interface UserGrantError {
  status: number;
  error: string;
  code: number;
  description: string;
}

interface StoredRefreshToken {
  clientId: string;
  tenantId: string;
  user: SimulatedUser;
  resource: string;
  scopes: string[];
  lastUsedAt: number;
  revoked: boolean;
}

interface DeviceCode {
  userCode: string;
  clientId: string;
  tenantId: string;
  scopeText: string;
  expiresAt: number;
  approvedBy?: SimulatedUser;
  declined?: boolean;
  redeemed?: boolean;
}

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEVICE_CODE_LIFETIME_MS = 15 * 60_000;
const NINETY_DAYS_MS = 90 * 24 * 3_600_000;
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

export const DEFAULT_SIMULATED_USER: SimulatedUser = {
  oid: '5e6b1c7a-3f2d-4a9e-8b0c-1d2e3f4a5b6c',
  upn: 'admin@partner.example',
  name: 'Partner Admin',
  mfa: true,
};

function emptyCounters(): UserGrantCounters {
  return {
    refreshExchanges: 0,
    refreshExchangesByClientId: {},
    refreshTokensIssued: 0,
    invalidGrants: 0,
    deviceCodesIssued: 0,
    deviceCodePolls: 0,
  };
}

export class UserGrants {
  readonly #refreshTokens = new Map<string, StoredRefreshToken>();
  readonly #deviceCodes = new Map<string, DeviceCode>();
  readonly #now: () => number;
  #options: Required<UserGrantOptions>;
  #counters = emptyCounters();

  constructor(now: () => number, options: UserGrantOptions = {}) {
    this.#now = now;
    this.#options = {
      revokeOnRotation: false,
      maxInactiveMs: NINETY_DAYS_MS,
      autoApprove: false,
      deviceCodeIntervalSeconds: 5,
    };
    this.configure(options);
  }

  configure(options: UserGrantOptions): void {
    this.#options = { ...this.#options, ...withoutUndefined(options) };
  }

  get counters(): UserGrantCounters {
    return structuredClone(this.#counters);
  }

  resetCounters(): void {
    this.#counters = emptyCounters();
  }

  /**
   * A refresh token as an admin's consent would leave it (no HTTP, not counted): for tests and
   * `npm run dev` that start "already consented".
   */
  issueRefreshToken(input: {
    clientId: string;
    tenantId: string;
    user?: Partial<SimulatedUser>;
    resource?: string;
    scopes?: string[];
  }): string {
    return this.#store({
      clientId: input.clientId.toLowerCase(),
      tenantId: input.tenantId.toLowerCase(),
      user: { ...DEFAULT_SIMULATED_USER, ...input.user },
      resource: input.resource ?? 'https://api.partnercenter.microsoft.com',
      scopes: input.scopes ?? ['user_impersonation'],
      lastUsedAt: this.#now(),
      revoked: false,
    });
  }

  /** Revokes one refresh token, or every one (a password reset, an admin's "revoke sessions"). */
  revokeRefreshTokens(token?: string): void {
    for (const [value, stored] of this.#refreshTokens) {
      if (token === undefined || value === token) stored.revoked = true;
    }
  }

  /** Whether Entra would still exchange this refresh token now. */
  isRefreshTokenValid(token: string): boolean {
    const stored = this.#refreshTokens.get(token);
    return stored !== undefined && !stored.revoked && !this.#inactive(stored);
  }

  /** Every refresh token issued so far (canary tests look for them in what the app wrote). */
  issuedRefreshTokens(): string[] {
    return [...this.#refreshTokens.keys()];
  }

  /** Approves a pending device code, as the admin finishing the sign-in (`mfa` default true). */
  approveDeviceCode(userCode: string, user: Partial<SimulatedUser> = {}): void {
    const code = [...this.#deviceCodes.values()].find((c) => c.userCode === userCode.toUpperCase());
    if (!code) throw new Error(`UserGrants: no device code with user code ${userCode}`);
    code.approvedBy = { ...DEFAULT_SIMULATED_USER, ...user };
  }

  /** User codes waiting for a sign-in. */
  pendingUserCodes(): string[] {
    return [...this.#deviceCodes.values()]
      .filter((c) => !c.approvedBy && !c.declined && c.expiresAt > this.#now())
      .map((c) => c.userCode);
  }

  /** `POST /{tenant}/oauth2/v2.0/devicecode`: the RFC 8628 device authorization response. */
  startDeviceAuthorization(input: {
    clientId: string;
    tenantId: string;
    scope: string;
    verificationBase: string;
  }): Record<string, unknown> {
    this.#counters.deviceCodesIssued++;
    const deviceCode = randomBytes(32).toString('base64url');
    const userCode = randomBytes(6).toString('base64url').replace(/[-_]/g, 'X').slice(0, 8).toUpperCase();
    const code: DeviceCode = {
      userCode,
      clientId: input.clientId.toLowerCase(),
      tenantId: input.tenantId.toLowerCase(),
      scopeText: input.scope,
      expiresAt: this.#now() + DEVICE_CODE_LIFETIME_MS,
    };
    const auto = this.#options.autoApprove;
    if (auto) code.approvedBy = { ...DEFAULT_SIMULATED_USER, ...auto };
    this.#deviceCodes.set(deviceCode, code);
    const verificationUri = `${input.verificationBase}/devicelogin`;
    return {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?otc=${userCode}`,
      expires_in: DEVICE_CODE_LIFETIME_MS / 1000,
      interval: this.#options.deviceCodeIntervalSeconds,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
    };
  }

  /** The device-code grant, once the client has authenticated (when it must). */
  redeemDeviceCode(input: {
    deviceCode: string;
    clientId: string;
    tenantId: string;
  }): UserTokenGrant | UserGrantError {
    this.#counters.deviceCodePolls++;
    const code = this.#deviceCodes.get(input.deviceCode);
    if (!code || code.clientId !== input.clientId.toLowerCase() || code.tenantId !== input.tenantId) {
      return grantError(
        400,
        'invalid_grant',
        70000,
        'The provided device code is invalid or was issued to another client.',
      );
    }
    if (code.redeemed) {
      return grantError(400, 'invalid_grant', 54005, 'The device code was already redeemed.');
    }
    if (code.expiresAt <= this.#now()) {
      return grantError(
        400,
        'expired_token',
        70020,
        'The provided code has expired: the sign-in was not completed in time.',
      );
    }
    if (code.declined) {
      return grantError(400, 'authorization_declined', 70019, 'The user declined the sign-in.');
    }
    if (!code.approvedBy) {
      return grantError(
        400,
        'authorization_pending',
        70016,
        'OAuth 2.0 device flow error. Authorization is pending. Continue polling.',
      );
    }
    code.redeemed = true;
    const parsed = parseUserScopes(code.scopeText);
    if ('error' in parsed) return parsed;
    return {
      clientId: code.clientId,
      tenantId: code.tenantId,
      user: code.approvedBy,
      resource: parsed.resource,
      scopes: parsed.scopes,
      refreshToken: parsed.offline
        ? this.#store({
            clientId: code.clientId,
            tenantId: code.tenantId,
            user: code.approvedBy,
            resource: parsed.resource,
            scopes: parsed.scopes,
            lastUsedAt: this.#now(),
            revoked: false,
          })
        : undefined,
    };
  }

  /** `grant_type=refresh_token`, once the client has authenticated: rotation, revocation, expiry. */
  redeemRefreshToken(input: {
    refreshToken: string;
    clientId: string;
    tenantId: string;
    scope: string | null;
  }): UserTokenGrant | UserGrantError {
    this.#counters.refreshExchanges++;
    bump(this.#counters.refreshExchangesByClientId, input.clientId.toLowerCase());
    const invalid = (code: number, description: string) => {
      this.#counters.invalidGrants++;
      return grantError(400, 'invalid_grant', code, description);
    };
    const stored = this.#refreshTokens.get(input.refreshToken);
    if (!stored)
      return invalid(
        9002313,
        'Invalid request. Request is malformed or invalid: the refresh token is not one this tenant issued.',
      );
    if (stored.clientId !== input.clientId.toLowerCase() || stored.tenantId !== input.tenantId) {
      return invalid(
        70000,
        'Provided grant is invalid or malformed: the refresh token was issued to another client or tenant.',
      );
    }
    if (stored.revoked) {
      return invalid(
        50173,
        'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or an admin revoked their sessions.',
      );
    }
    if (this.#inactive(stored)) {
      return invalid(
        700082,
        'The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00.',
      );
    }
    const parsed = input.scope
      ? parseUserScopes(input.scope)
      : { resource: stored.resource, scopes: stored.scopes, offline: true };
    if ('error' in parsed) return parsed;
    if (parsed.resource !== stored.resource) {
      return grantError(
        400,
        'invalid_grant',
        65001,
        `The user or administrator has not consented to use the application with resource '${parsed.resource}'.`,
      );
    }
    stored.lastUsedAt = this.#now();
    if (this.#options.revokeOnRotation) stored.revoked = true;
    return {
      clientId: stored.clientId,
      tenantId: stored.tenantId,
      user: stored.user,
      resource: stored.resource,
      scopes: parsed.scopes,
      refreshToken: parsed.offline
        ? this.#store({ ...stored, scopes: stored.scopes, lastUsedAt: this.#now(), revoked: false })
        : undefined,
    };
  }

  #store(token: StoredRefreshToken): string {
    // Entra's refresh tokens are opaque and long; the prefix only makes them easy to spot in a test failure.
    const value = `1.sim-rt.${randomBytes(48).toString('base64url')}`;
    this.#refreshTokens.set(value, { ...token });
    this.#counters.refreshTokensIssued++;
    return value;
  }

  #inactive(stored: StoredRefreshToken): boolean {
    return this.#now() - stored.lastUsedAt > this.#options.maxInactiveMs;
  }
}

/** `https://api.partnercenter.microsoft.com/user_impersonation offline_access` → resource, scopes, offline. */
export function parseUserScopes(
  scopeText: string,
): { resource: string; scopes: string[]; offline: boolean } | UserGrantError {
  const all = scopeText.split(' ').filter((s) => s.length > 0);
  const resourceScopes = all.filter((s) => !OIDC_SCOPES.has(s));
  const resources = new Set(resourceScopes.map((s) => s.slice(0, s.lastIndexOf('/'))));
  if (resourceScopes.length === 0 || resources.size !== 1 || resourceScopes.some((s) => !s.includes('/'))) {
    return grantError(
      400,
      'invalid_scope',
      70011,
      `The provided value for the input parameter 'scope' is not valid: ${scopeText}. Ask for the scopes of one resource, e.g. https://api.partnercenter.microsoft.com/user_impersonation offline_access.`,
    );
  }
  return {
    resource: [...resources][0]!,
    scopes: resourceScopes.map((s) => s.slice(s.lastIndexOf('/') + 1)),
    offline: all.includes('offline_access'),
  };
}

/** Claims a user access token carries on top of the app ones. */
export function userClaims(grant: UserTokenGrant): Record<string, unknown> {
  return {
    idtyp: 'user',
    scp: grant.scopes.join(' '),
    amr: grant.user.mfa ? ['pwd', 'mfa'] : ['pwd'],
    upn: grant.user.upn,
    unique_name: grant.user.upn,
    name: grant.user.name,
    oid: grant.user.oid,
    sub: newGuid(),
  };
}

function grantError(status: number, error: string, code: number, description: string): UserGrantError {
  return { status, error, code, description };
}
