import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { CallerAuthSettings } from '../config/settings.js';
import { isGuid } from '../partner-center/model.js';
import { CallerAuthError, CallerAuthUnavailableError } from './errors.js';

/**
 * Optional Microsoft Entra ID bearer-token check for internal tools, on top of function keys.
 *
 * What is accepted: an app-role access token issued by the configured tenant for this app's
 * audience, signed RS256 with a key the tenant publishes, within its lifetime (small clock
 * tolerance), carrying the required app role when one is configured. v1 tokens
 * (`iss` = `https://sts.windows.net/{tid}/`, `appid`) and v2 tokens (`iss` =
 * `{authorityHost}/{tid}/v2.0`, `azp`) are both accepted: which one Entra issues depends on the
 * app registration's `accessTokenAcceptedVersion`, not on the caller.
 */

/** Who called, for logs. Never the token. */
export interface CallerIdentity {
  /** Client id of the calling application (`azp` in v2 tokens, `appid` in v1). */
  appId: string;
  /** Object id of the caller's service principal (`oid`), when the token has one. */
  objectId?: string;
  /** App roles granted to the caller (`roles`). */
  roles: string[];
  tenantId: string;
}

/** Test and tuning knobs; the defaults suit production. */
export interface CallerAuthenticatorOptions {
  /** Allowed clock skew for `exp`/`nbf`. Default 60 s. */
  clockToleranceSeconds?: number;
  /** Clock for token times and the key-set failure window, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Timeout of one key-set fetch. Default 5 s. */
  keySetTimeoutMs?: number;
  /** How long fetched signing keys are trusted before a refetch. Default 1 h. */
  keySetMaxAgeMs?: number;
  /** Shortest gap between refetches triggered by an unknown key id. Default 30 s. */
  keySetCooldownMs?: number;
  /** After a failed key-set fetch, requests fail fast (503) for this long. Default 5 s. */
  keySetRetryAfterMs?: number;
}

/** RFC 6750 b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** Entra tokens are a few KB; anything far larger is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/** Sovereign clouds whose v1 issuer host is not `sts.windows.net`. */
const V1_ISSUER_HOSTS: Record<string, string> = {
  'login.chinacloudapi.cn': 'https://sts.chinacloudapi.cn',
};

/** Thrown by the key resolver when the key set itself could not be obtained. */
class KeySetUnavailable extends Error {}

/**
 * Validates `Authorization: Bearer` Entra ID access tokens against one tenant and audience.
 * Built once per process (the composition root); its signing-key cache lives as long as it does.
 * Nothing touches the network until the first `authenticate`.
 */
export class CallerAuthenticator {
  /** False when `CALLER_AUTH_AUDIENCE` is unset: `authenticate` then accepts every request. */
  readonly enabled: boolean;

  readonly #tenantId: string;
  readonly #audience: string;
  readonly #audiences: string[];
  readonly #issuers: string[];
  readonly #requiredRole: string | undefined;
  readonly #keySetUrl: URL | undefined;
  readonly #now: () => number;
  readonly #options: Required<Omit<CallerAuthenticatorOptions, 'now'>>;
  #getKey: JWTVerifyGetKey | undefined;
  #keySetFailure: { until: number; cause: unknown } | undefined;

  constructor(settings: CallerAuthSettings, options: CallerAuthenticatorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#options = {
      clockToleranceSeconds: options.clockToleranceSeconds ?? 60,
      keySetTimeoutMs: options.keySetTimeoutMs ?? 5_000,
      keySetMaxAgeMs: options.keySetMaxAgeMs ?? 3_600_000,
      keySetCooldownMs: options.keySetCooldownMs ?? 30_000,
      keySetRetryAfterMs: options.keySetRetryAfterMs ?? 5_000,
    };
    this.#requiredRole = settings.requiredRole;
    this.enabled = Boolean(settings.audience);
    if (!settings.audience) {
      this.#tenantId = '';
      this.#audience = '';
      this.#audiences = [];
      this.#issuers = [];
      return;
    }
    const audience = settings.audience.replace(/\/\.default$/, '');
    // A GUID, checked by loadSettings (shared/config/settings.ts).
    const { tenantId } = settings;
    const authority = settings.authorityHost.replace(/\/+$/, '');
    this.#tenantId = tenantId;
    this.#audience = audience;
    this.#audiences = acceptedAudiences(audience);
    const v1Host = V1_ISSUER_HOSTS[new URL(authority).hostname] ?? 'https://sts.windows.net';
    this.#issuers = [`${v1Host}/${tenantId}/`, `${authority}/${tenantId}/v2.0`];
    this.#keySetUrl = new URL(`${authority}/${tenantId}/discovery/v2.0/keys`);
  }

  /**
   * Checks the request's bearer token. Resolves the caller's identity, or `undefined` when caller
   * authentication is disabled. Rejects with {@link CallerAuthError} (`unauthorized` → 401,
   * `forbidden` → 403) or {@link CallerAuthUnavailableError} (→ 503) when the tenant's signing
   * keys cannot be fetched.
   */
  async authenticate(headers: { get(name: string): string | null }): Promise<CallerIdentity | undefined> {
    if (!this.enabled) return undefined;
    const token = this.#bearerToken(headers.get('authorization'));

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keyResolver(), {
        // Only what Entra signs access tokens with: refuses `none` and HMAC "alg confusion" tokens
        // before any key is looked up.
        algorithms: ['RS256'],
        audience: this.#audiences,
        issuer: this.#issuers,
        requiredClaims: ['exp', 'tid'],
        clockTolerance: this.#options.clockToleranceSeconds,
        currentDate: new Date(this.#now()),
      }));
    } catch (error) {
      throw this.#translate(error);
    }

    const tenantId = typeof payload.tid === 'string' ? payload.tid.toLowerCase() : '';
    if (tenantId !== this.#tenantId) throw this.#invalidToken(this.#wrongTenant(payload.tid));
    const appId = stringClaim(payload.azp) ?? stringClaim(payload.appid);
    if (!appId) {
      throw this.#invalidToken(
        'The access token does not name the calling application (no azp or appid claim). Use an app-only token from the client credentials flow.',
      );
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter((r): r is string => typeof r === 'string')
      : [];
    if (this.#requiredRole && !roles.includes(this.#requiredRole)) {
      const detail = `The calling application ${printable(appId)} lacks the app role '${this.#requiredRole}'. An administrator of tenant ${this.#tenantId} must grant it that role on ${this.#audience} (app role assignment, admin consent), then the caller must request a new token.`;
      throw new CallerAuthError('forbidden', detail, this.#challenge('insufficient_scope', detail));
    }
    const objectId = stringClaim(payload.oid);
    return { appId, ...(objectId ? { objectId } : {}), roles, tenantId };
  }

  #bearerToken(header: string | null): string {
    const value = header?.trim();
    const howTo = `Send a Microsoft Entra ID access token as 'Authorization: Bearer <token>', requested from tenant ${this.#tenantId} for scope '${this.#audience}/.default'.`;
    if (!value) {
      // RFC 6750 3.1: no error code when the request carries no credentials at all.
      throw new CallerAuthError(
        'unauthorized',
        `This API requires a bearer token. ${howTo}`,
        this.#challenge(),
      );
    }
    if (!/^bearer(\s|$)/i.test(value)) {
      throw new CallerAuthError(
        'unauthorized',
        `The Authorization header does not use the Bearer scheme. ${howTo}`,
        this.#challenge(),
      );
    }
    if (value.length > MAX_TOKEN_LENGTH) {
      const detail = `The bearer token is longer than ${MAX_TOKEN_LENGTH} characters, far beyond any Entra ID access token.`;
      throw new CallerAuthError('unauthorized', detail, this.#challenge('invalid_request', detail));
    }
    const token = BEARER.exec(value)?.[1];
    if (!token) {
      const detail = `The Authorization header holds no well-formed bearer token. ${howTo}`;
      throw new CallerAuthError('unauthorized', detail, this.#challenge('invalid_request', detail));
    }
    return token;
  }

  /** jose's remote key set, created on first use; its fetch failures are told apart from token faults. */
  #keyResolver(): JWTVerifyGetKey {
    if (this.#getKey) return this.#getKey;
    const url = this.#keySetUrl!;
    const remote = createRemoteJWKSet(url, {
      timeoutDuration: this.#options.keySetTimeoutMs,
      cacheMaxAge: this.#options.keySetMaxAgeMs,
      cooldownDuration: this.#options.keySetCooldownMs,
    });
    this.#getKey = async (protectedHeader, token) => {
      // While the key set is down and nothing fresh is cached, fail fast instead of sending one
      // fetch per incoming request to Entra.
      const failure = this.#keySetFailure;
      if (failure && !remote.fresh && this.#now() < failure.until)
        throw new KeySetUnavailable('', { cause: failure.cause });
      try {
        const key = await remote(protectedHeader, token);
        this.#keySetFailure = undefined;
        return key;
      } catch (error) {
        // No key with the token's `kid` (even after a refetch): the token's fault.
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
          throw error;
        }
        // Anything else happened while getting or reading the key set: network, timeout,
        // non-200, bad JSON, malformed keys. Not the caller's fault.
        this.#keySetFailure = { until: this.#now() + this.#options.keySetRetryAfterMs, cause: error };
        throw new KeySetUnavailable('', { cause: error });
      }
    };
    return this.#getKey;
  }

  #translate(error: unknown): unknown {
    if (error instanceof KeySetUnavailable) {
      const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : 'unknown';
      const until = this.#keySetFailure?.until ?? this.#now();
      return new CallerAuthUnavailableError(
        `The signing keys of Microsoft Entra ID tenant ${this.#tenantId} could not be fetched from ${this.#keySetUrl?.href} (${printable(cause, 200)}), so no bearer token can be checked. The caller did nothing wrong: retry shortly.`,
        Math.max(1, Math.ceil((until - this.#now()) / 1000)),
        { cause: error.cause },
      );
    }
    if (error instanceof errors.JWTExpired) {
      return this.#invalidToken(
        'The access token has expired. Request a new one (credential libraries such as @azure/identity renew tokens before they expire).',
      );
    }
    if (error instanceof errors.JWTClaimValidationFailed) return this.#invalidToken(this.#claimFault(error));
    if (error instanceof errors.JOSEAlgNotAllowed) {
      return this.#invalidToken(
        'The access token is not signed with RS256, the only algorithm accepted (unsigned and HMAC-signed tokens are refused). Use a token issued by Microsoft Entra ID.',
      );
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return this.#invalidToken(
        `The access token's signature does not verify against the signing keys of Microsoft Entra ID tenant ${this.#tenantId}. Use a token issued by Entra ID, unaltered.`,
      );
    }
    if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
      return this.#invalidToken(
        `The access token was signed with a key (kid) that Microsoft Entra ID tenant ${this.#tenantId} does not publish. Use a token issued by that tenant.`,
      );
    }
    if (
      error instanceof errors.JWSInvalid ||
      error instanceof errors.JWTInvalid ||
      error instanceof errors.JOSENotSupported
    ) {
      return this.#invalidToken(
        'The bearer token is not a well-formed signed JSON Web Token. Send the access_token value from Microsoft Entra ID as is.',
      );
    }
    return error;
  }

  #claimFault(error: errors.JWTClaimValidationFailed): string {
    const { claim, reason, payload } = error;
    if (reason === 'missing') return `The access token lacks the required '${claim}' claim.`;
    switch (claim) {
      case 'aud':
        return `The access token is for audience '${printable(audienceOf(payload.aud))}', not this app. Request a token for scope '${this.#audience}/.default'.`;
      case 'iss':
        if (typeof payload.tid === 'string' && payload.tid.toLowerCase() !== this.#tenantId) {
          return this.#wrongTenant(payload.tid);
        }
        return `The access token was issued by '${printable(payload.iss)}', which is not Microsoft Entra ID tenant ${this.#tenantId} (expected one of ${this.#issuers.join(', ')}).`;
      case 'nbf':
        return 'The access token is not valid yet (its nbf time is in the future). Check the clock of the calling machine.';
      default:
        return `The access token's '${claim}' claim is not valid.`;
    }
  }

  #wrongTenant(tid: unknown): string {
    return `The access token was issued in tenant ${printable(tid)}; only tokens from tenant ${this.#tenantId} are accepted. Request the token from that tenant.`;
  }

  #invalidToken(detail: string): CallerAuthError {
    return new CallerAuthError('unauthorized', detail, this.#challenge('invalid_token', detail));
  }

  /** RFC 6750 challenge; the realm is the audience, which tells a caller what to request a token for. */
  #challenge(error?: string, description?: string): string {
    const parts = [`Bearer realm="${quotable(this.#audience)}"`];
    if (error) parts.push(`error="${error}"`);
    if (description) parts.push(`error_description="${quotable(description)}"`);
    return parts.join(', ');
  }
}

/**
 * The audiences a token may carry. Entra puts the client id in `aud` of v2 tokens and whatever
 * resource was requested in v1 tokens, so `api://{clientId}` (the default app ID URI) and the bare
 * client id are accepted for each other. A custom app ID URI cannot be mapped to its client id
 * here: configure the client id (or `api://{clientId}`) when callers get v2 tokens.
 */
function acceptedAudiences(audience: string): string[] {
  const clientId = isGuid(audience) ? audience : /^api:\/\/([0-9a-f-]{36})$/i.exec(audience)?.[1];
  if (!clientId || !isGuid(clientId)) return [audience];
  const id = clientId.toLowerCase();
  return [...new Set([audience, id, `api://${id}`])];
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function audienceOf(aud: unknown): string {
  return Array.isArray(aud) ? aud.map(String).join(' ') : String(aud);
}

/** A claim value fit for a message: printable ASCII, bounded. */
function printable(value: unknown, max = 100): string {
  const text = String(value).replace(/[^\x20-\x7e]/g, '?');
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** Fit for an RFC 7230 quoted-string inside the challenge (RFC 6750 restricts the charset further). */
function quotable(value: string): string {
  return printable(value, 400).replace(/["\\]/g, "'");
}
