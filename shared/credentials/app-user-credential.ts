import { setTimeout as delay } from 'node:timers/promises';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { CredentialError, type CredentialMaterial } from './app-credential.js';
import type { RefreshTokenStore, StoredRefreshToken } from './refresh-token-store.js';
import { type EntraTokenEndpoint, TokenEndpointError } from './token-endpoint.js';

/** What the credential tells the operator about (never a token): telemetry and a log line. */
export type AppUserCredentialEvent =
  | { kind: 'rotation_written'; version?: string; attempts: number }
  | { kind: 'rotation_write_failed'; attempts: number; reason: string }
  | { kind: 'consent_required'; reason: string };

export interface AppUserCredentialOptions {
  /** The app's own secret or certificate (PARTNER_CENTER_SECRET_NAME): the exchange is a confidential client's. */
  appMaterial: { current(): Promise<{ material: CredentialMaterial }> };
  refreshTokens: RefreshTokenStore;
  endpoint: EntraTokenEndpoint;
  /** Scopes of every exchange: `{resource}/user_impersonation offline_access`. */
  scope: string;
  /** Access tokens are renewed this long before they expire. Default 5 minutes. */
  expiryMarginMs?: number;
  /**
   * After an `invalid_grant`, when the vault still holds the very token refused, how long to wait
   * before reading it once more: another instance may have rotated it and be writing it right now.
   * Default 1.5 s.
   */
  rotationGraceMs?: number;
  /** While consent is required, the vault is read again at most this often (an admin may have consented). Default 10 s. */
  consentRecheckMs?: number;
  /** Attempts to write a rotated token before reporting failure (each exchange tries again). Default 3. */
  writeAttempts?: number;
  writeRetryDelayMs?: number;
  onEvent?: (event: AppUserCredentialEvent) => void;
  now?: () => number;
}

/** The refresh token's state, for the deep health check. */
export interface RefreshTokenStatus {
  rotatedAt?: Date;
  version?: string;
  /** A rotated token the vault has not accepted yet (the app runs on the one it holds). */
  writePending: boolean;
}

interface Refusal {
  /** The token refused (compared by value: a vault re-read that brings another one ends the refusal). */
  token: string | undefined;
  at: number;
  error: CredentialError;
}

/** Newer vault tokens tried after an `invalid_grant` before giving up (a bound, not an expected count). */
const MAX_TOKENS_TRIED_AFTER_REFUSAL = 4;

/** Entra's answers that only an admin's new sign-in can fix. */
const CONSENT_ERRORS = new Set(['invalid_grant', 'interaction_required', 'consent_required']);

/**
 * The App+User `TokenCredential` of the secure application model, used unchanged by the Partner
 * Center client: it exchanges the refresh token held in Key Vault for access tokens, and writes
 * every rotated refresh token back as a new secret version before relying on it.
 *
 * - Access tokens are cached until `expiryMarginMs` before they expire; concurrent callers share
 *   one exchange (single flight), so 50 cold lookups cost one exchange and one vault write.
 * - A write that fails is retried, reported, and retried again on the next exchange; meanwhile the
 *   app keeps working on the token it holds (the old one may already be revoked).
 * - `invalid_grant`: another instance may have rotated the token. The vault is read again (once
 *   more after `rotationGraceMs` if it still holds the refused token); a newer token is used (and
 *   the next newer one, should that too be rotated away meanwhile), else
 *   the answer is `CredentialError` with stage `consent` — and, until the vault changes, every
 *   caller gets it at once, without asking Entra again (no retry storm).
 */
export class AppUserCredential implements TokenCredential {
  private held?: StoredRefreshToken;
  private unwritten?: StoredRefreshToken;
  private access?: AccessToken;
  private flight?: Promise<AccessToken>;
  private refusal?: Refusal;
  private readonly now: () => number;

  constructor(private readonly options: AppUserCredentialOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The scopes asked for are the Partner Center client's; every exchange asks for `options.scope`. */
  getToken(_scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const access = this.access;
    if (access && access.expiresOnTimestamp - (this.options.expiryMarginMs ?? 300_000) > this.now()) {
      return Promise.resolve(access);
    }
    if (!this.flight) {
      // Shared by every waiting caller: not tied to any one caller's abort signal.
      const flight = this.exchange().finally(() => {
        if (this.flight === flight) this.flight = undefined;
      });
      this.flight = flight;
    }
    return this.flight;
  }

  /** Partner Center refused the access token (401): the next call exchanges the refresh token again. */
  invalidate(): void {
    this.access = undefined;
  }

  /**
   * Partner Center refused tokens of this consent (no MFA): callers get consent-required at once
   * until the vault holds another refresh token.
   */
  consentRefused(reason: string): void {
    this.refuse(this.held?.value, reason);
  }

  /** For the deep health check: when the refresh token last rotated, read from the vault when not held yet. */
  async status(): Promise<RefreshTokenStatus> {
    const token = this.held ?? (await this.options.refreshTokens.read());
    if (!token)
      throw this.consentRequired(`there is no refresh token in ${this.options.refreshTokens.description}`);
    return { rotatedAt: token.rotatedAt, version: token.version, writePending: this.unwritten !== undefined };
  }

  private async exchange(): Promise<AccessToken> {
    if (this.refusal) await this.recheckAfterRefusal(this.refusal);
    if (this.unwritten) await this.writeBack(this.unwritten);
    const held = this.held ?? (await this.readVault());
    if (!held)
      throw this.refuse(undefined, `there is no refresh token in ${this.options.refreshTokens.description}`);
    this.hold(held);
    try {
      return await this.redeem(held);
    } catch (error) {
      if (!isConsentError(error)) throw this.tokenFailure(error);
      return this.afterRefusedGrant(held, error);
    }
  }

  /**
   * `invalid_grant` for `refused`: the vault is read again and a newer token tried, as long as the
   * vault keeps showing newer ones (instances rotating at the same moment each move it forward);
   * when it still holds the refused token, once more after the grace. Then consent is required.
   */
  private async afterRefusedGrant(
    refused: StoredRefreshToken,
    error: TokenEndpointError,
  ): Promise<AccessToken> {
    let lastRefused = refused;
    let lastError = error;
    let waited = false;
    for (let attempt = 0; attempt < MAX_TOKENS_TRIED_AFTER_REFUSAL; attempt++) {
      let latest = await this.readVault();
      if (latest?.value === lastRefused.value && !waited) {
        waited = true;
        await delay(this.options.rotationGraceMs ?? 1500);
        latest = await this.readVault();
      }
      if (!latest || latest.value === lastRefused.value) break;
      this.hold(latest);
      try {
        return await this.redeem(latest);
      } catch (next) {
        if (!isConsentError(next)) throw this.tokenFailure(next);
        lastRefused = latest;
        lastError = next;
      }
    }
    throw this.refuse(lastRefused.value, describeRefusal(lastError));
  }

  private async redeem(token: StoredRefreshToken): Promise<AccessToken> {
    const { material } = await this.options.appMaterial.current();
    const answer = await this.options.endpoint.redeemRefreshToken(token.value, this.options.scope, material);
    if (answer.refreshToken && answer.refreshToken !== token.value) {
      // From now on this is the token: Entra may already have revoked the old one.
      const rotated: StoredRefreshToken = { value: answer.refreshToken, rotatedAt: new Date(this.now()) };
      this.hold(rotated);
      await this.writeBack(rotated);
    }
    this.refusal = undefined;
    const issuedAt = this.now();
    this.access = {
      token: answer.accessToken,
      expiresOnTimestamp: issuedAt + answer.expiresInSeconds * 1000,
      refreshAfterTimestamp: issuedAt + (answer.expiresInSeconds * 1000) / 2,
      tokenType: 'Bearer',
    };
    return this.access;
  }

  /** Writes a rotated token as a new vault version; never throws (the app keeps the token it holds). */
  private async writeBack(token: StoredRefreshToken): Promise<void> {
    const attempts = this.options.writeAttempts ?? 3;
    let reason = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const written = await this.options.refreshTokens.write(token.value, {
          rotatedAt: token.rotatedAt ?? new Date(this.now()),
          writer: 'rotation',
        });
        token.version = written.version;
        if (this.unwritten === token || this.unwritten?.value === token.value) this.unwritten = undefined;
        this.options.onEvent?.({ kind: 'rotation_written', version: written.version, attempts: attempt });
        return;
      } catch (error) {
        reason = error instanceof Error ? error.message.slice(0, 300) : String(error);
        if (attempt < attempts) await delay((this.options.writeRetryDelayMs ?? 500) * 2 ** (attempt - 1));
      }
    }
    // Only the newest unwritten token matters: an older one is superseded by it.
    if (this.held === token) this.unwritten = token;
    this.options.onEvent?.({ kind: 'rotation_write_failed', attempts, reason });
  }

  /** While refused: answer at once, and look at the vault again only every `consentRecheckMs`. */
  private async recheckAfterRefusal(refusal: Refusal): Promise<void> {
    if (this.now() - refusal.at < (this.options.consentRecheckMs ?? 10_000)) throw refusal.error;
    refusal.at = this.now();
    const latest = await this.readVault();
    if (!latest || latest.value === refusal.token) throw refusal.error;
    this.hold(latest);
    this.refusal = undefined;
  }

  /**
   * From now on the app runs on `token`. A rotated token not written yet is superseded by it: were
   * it written later, the vault's newest version would be an older token than the one in use (or
   * one an admin's new consent replaced).
   */
  private hold(token: StoredRefreshToken): void {
    this.held = token;
    if (this.unwritten !== token) this.unwritten = undefined;
  }

  private async readVault(): Promise<StoredRefreshToken | undefined> {
    return this.options.refreshTokens.read();
  }

  private refuse(token: string | undefined, reason: string): CredentialError {
    const error = this.consentRequired(reason);
    this.refusal = { token, at: this.now(), error };
    this.access = undefined;
    this.options.onEvent?.({ kind: 'consent_required', reason });
    return error;
  }

  private consentRequired(reason: string): CredentialError {
    return new CredentialError(
      `The App+User credential cannot be used: ${reason}. An admin of the partner tenant must sign in again, with MFA, and store a new refresh token in ${this.options.refreshTokens.description}: run 'npm run consent' (README, "App+User credentials").`,
      'consent',
    );
  }

  private tokenFailure(error: unknown): CredentialError {
    if (error instanceof CredentialError) return error;
    const message = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 300) : String(error);
    return new CredentialError(
      `Microsoft Entra ID did not exchange the App+User refresh token: ${message}`,
      'token',
      error instanceof TokenEndpointError ? error.statusCode : (error as { statusCode?: number }).statusCode,
      { cause: error },
    );
  }
}

/**
 * The exchange's scopes for the resource of the app-only scope (`…/.default`): its
 * `user_impersonation`, and `offline_access` so that Entra hands back a rotated refresh token.
 */
export function userImpersonationScopes(appOnlyScope: string): string {
  const resource = appOnlyScope.replace(/\/\.default$/, '').replace(/\/+$/, '');
  return `${resource}/user_impersonation offline_access`;
}

function isConsentError(error: unknown): error is TokenEndpointError {
  return error instanceof TokenEndpointError && CONSENT_ERRORS.has(error.error);
}

function describeRefusal(error: TokenEndpointError): string {
  return `Microsoft Entra ID refused the refresh token (${error.message})`;
}
