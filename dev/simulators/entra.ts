import { createHash, createPublicKey, type KeyObject, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CryptoKey,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import {
  DEVICE_CODE_GRANT,
  type UserGrantError,
  type UserGrantOptions,
  UserGrants,
  type UserTokenGrant,
  userClaims,
} from './entra-user-grants.js';
import {
  BodyTooLargeError,
  bump,
  FaultInjectingSimulator,
  header,
  newGuid,
  parseRequestUrl,
  pause,
  readBody,
  sendJson,
} from './https-server.js';
import type { TlsMaterial } from './tls.js';

/**
 * Microsoft Entra ID token endpoint simulator (client-credentials only), good enough for the real
 * `ClientSecretCredential` / `ClientCertificateCredential` of @azure/identity (MSAL Node) when they
 * are built with `authorityHost: entra.url` and `disableInstanceDiscovery: true`.
 *
 * Endpoints (tenant = a registered tenant id):
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration` — what MSAL fetches; its `issuer` is
 *   `{url}/{tenant}/v2.0` on the host the client used (MSAL ≥ 16 rejects an issuer on another host).
 * - `GET /{tenant}/.well-known/openid-configuration` — the v1 document.
 * - `GET /{tenant}/discovery/v2.0/keys` (and `/discovery/keys`) — the JWKS of the token signing key.
 * - `POST /{tenant}/oauth2/v2.0/token` — `client_secret` or `private_key_jwt` (`client_assertion`,
 *   RS256 or PS256, `x5t`/`x5t#S256` selecting a registered certificate); `scope={resource}/.default`.
 *   `POST /{tenant}/oauth2/token` (v1, `resource=`) works too.
 *
 * Access tokens look like the v1 tokens Entra issues for Partner Center and Key Vault: RS256,
 * `iss` = `https://sts.windows.net/{tenant}/`, `ver` = `1.0`, `aud` = the resource (scope minus
 * `/.default`), `tid`, `appid` and `azp` = the client id, `appidacr` (`1` secret, `2` certificate),
 * `oid`/`sub` = a stable object id for the app, `idtyp` = `app`, `roles` when registered.
 */

/** An app registration (service principal) in one tenant. */
export interface EntraApplication {
  tenantId: string;
  clientId: string;
  /** Client secrets currently valid (any of them is accepted). */
  secrets?: string[];
  /** PEM certificates whose keys may sign client assertions (a PEM with a private key is fine). */
  certificatePems?: string[];
  /** App roles copied into every token issued to this app. */
  roles?: string[];
}

/** Claims of the access tokens this simulator issues. */
export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  tid: string;
  appid: string;
  azp: string;
  appidacr: '0' | '1' | '2';
  oid: string;
  sub: string;
  idtyp: 'app' | 'user';
  ver: '1.0';
  uti: string;
  roles?: string[];
  /** User tokens (App+User): delegated scopes, e.g. `user_impersonation`. */
  scp?: string;
  /** User tokens: how the user signed in (`pwd`, `mfa`). */
  amr?: string[];
  upn?: string;
}

/** Options of {@link EntraSimulator.issueToken}. */
export interface IssueTokenOptions {
  /** `aud`, e.g. `https://api.partnercenter.microsoft.com` (a trailing `/.default` is removed). */
  audience: string;
  /** `appid`/`azp`; defaults to {@link EntraSimulator.testClientId}. */
  clientId?: string;
  /** `roles`; defaults to the registered app's roles, if any. */
  roles?: string[];
  /** Lifetime from now; negative mints an already expired token. Default 3599. */
  expiresInSeconds?: number;
  /** Overrides `iss` (e.g. to mint a token a verifier must reject). */
  issuer?: string;
  /** `tid`; defaults to the registered app's tenant, else the first known tenant. */
  tenantId?: string;
}

/** A failure injected into the token endpoint by {@link EntraSimulator.failNext}. */
export interface EntraFailure {
  /** HTTP status: 500 and 503 answer Entra's `server_error` / `temporarily_unavailable` bodies. */
  status: number;
  /** How many token requests fail (default 1). */
  times?: number;
  /** Adds `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  /** Fails only this client's token requests (others, e.g. the vault's identity, are served). */
  clientId?: string;
}

/** A token-endpoint outage of {@link EntraSimulator.failFor}: every matching request fails until it ends. */
export interface EntraOutage extends Omit<EntraFailure, 'times'> {
  /** How long the outage lasts from the call, in ms of the simulator's clock. */
  durationMs: number;
}

/** Counters since start or the last `reset()`. */
export interface EntraCounters {
  /** POSTs to a token endpoint, successful or not. */
  tokenRequests: number;
  tokenRequestsByClientId: Record<string, number>;
  tokenRequestsByGrant: { secret: number; assertion: number; other: number };
  tokensIssued: number;
  /** Token requests answered with a non-2xx status, injected or not. */
  failures: number;
  injectedFailures: number;
  discoveryRequests: number;
}

/** Options of {@link EntraSimulator}. */
export interface EntraSimulatorOptions {
  /** Server certificate (the one trusted through `NODE_EXTRA_CA_CERTS`). */
  tls: TlsMaterial;
  /** Clock for token times, in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** `expires_in` of issued tokens. Default 3599. */
  tokenLifetimeSeconds?: number;
  /** Listen address. Default `127.0.0.1`. */
  host?: string;
  /** Refresh-token rotation, device codes: see entra-user-grants.ts. */
  userGrants?: UserGrantOptions;
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
const ASSERTION_CLOCK_SKEW_SECONDS = 300;

interface Registration {
  tenantId: string;
  clientId: string;
  secrets: string[];
  certificates: { key: KeyObject; sha1: string; sha256: string }[];
  roles: string[] | undefined;
}

interface TokenError {
  status: number;
  error: string;
  code: number;
  description: string;
}

type GrantKind = 'secret' | 'assertion' | 'other';

function emptyCounters(): EntraCounters {
  return {
    tokenRequests: 0,
    tokenRequestsByClientId: {},
    tokenRequestsByGrant: { secret: 0, assertion: 0, other: 0 },
    tokensIssued: 0,
    failures: 0,
    injectedFailures: 0,
    discoveryRequests: 0,
  };
}

/** The `iss` of access tokens for `tenantId`. */
export function accessTokenIssuer(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`;
}

/**
 * The Microsoft Entra ID token endpoint simulator. See the module comment for the wire contract.
 * Its `url` is the authority host to give credentials (`authorityHost`, `AZURE_AUTHORITY_HOST`);
 * `failNext` fails token requests, `failFor` makes an outage of a given length, `reset()` keeps
 * registrations and the signing key.
 */
export class EntraSimulator extends FaultInjectingSimulator<EntraCounters, EntraFailure> {
  /** `appid` used by {@link issueToken} when no client id is given. */
  static readonly testClientId = '00000000-0000-0000-0000-00000000c11e';

  /** The secure application model's grants: refresh tokens with rotation, device codes. */
  readonly users: UserGrants;
  readonly #now: () => number;
  readonly #tokenLifetime: number;
  readonly #tenants = new Set<string>();
  readonly #apps = new Map<string, Registration>();
  #outage: (EntraOutage & { endsAt: number }) | undefined;
  #lastInjectedFailureAt: number | undefined;
  #signing: { privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK; kid: string } | undefined;

  constructor(options: EntraSimulatorOptions) {
    super('EntraSimulator', options, emptyCounters);
    this.#now = options.now ?? Date.now;
    this.#tokenLifetime = options.tokenLifetimeSeconds ?? 3599;
    this.users = new UserGrants(this.#now, options.userGrants);
  }

  /** Generates the signing key and listens on `port` (0 = any). Resolves with {@link url}. */
  override async start(port = 0): Promise<string> {
    if (!this.#signing) {
      const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
      const jwk = await exportJWK(publicKey);
      const kid = createHash('sha1')
        .update(jwk.n ?? '')
        .digest('base64url');
      this.#signing = {
        privateKey,
        publicKey,
        jwk: { ...jwk, kid, x5t: kid, use: 'sig', alg: 'RS256' },
        kid,
      };
    }
    return super.start(port);
  }

  /**
   * Every matching token request fails for `durationMs` from now (an outage running for a while,
   * unlike {@link failNext}'s counted failures). Returns the outage's end, in epoch ms of the
   * simulator's clock. `reset()` ends it.
   */
  failFor(outage: EntraOutage): number {
    const endsAt = this.#now() + outage.durationMs;
    this.#outage = { ...outage, endsAt };
    return endsAt;
  }

  /** When the last injected failure was answered, in epoch ms of the simulator's clock. */
  get lastInjectedFailureAt(): number | undefined {
    return this.#lastInjectedFailureAt;
  }

  /** Ends an outage and clears the counters, the user grants' too (their tokens and device codes stay). */
  override reset(): void {
    super.reset();
    this.users.resetCounters();
    this.#outage = undefined;
    this.#lastInjectedFailureAt = undefined;
  }

  /** Makes a tenant known (registering an app does this too). */
  addTenant(tenantId: string): void {
    this.#tenants.add(tenantId.toLowerCase());
  }

  /** Registers (or replaces) an app registration. */
  registerApplication(app: EntraApplication): void {
    const tenantId = app.tenantId.toLowerCase();
    this.addTenant(tenantId);
    this.#apps.set(app.clientId.toLowerCase(), {
      tenantId,
      clientId: app.clientId,
      secrets: [...(app.secrets ?? [])],
      certificates: (app.certificatePems ?? []).map(parseCertificate),
      roles: app.roles ? [...app.roles] : undefined,
    });
  }

  /** Replaces an app's valid secrets (rotation: old secrets stop working at once). */
  setApplicationSecrets(clientId: string, secrets: string[]): void {
    this.#registration(clientId).secrets = [...secrets];
  }

  /** Replaces an app's registered certificates. */
  setApplicationCertificates(clientId: string, certificatePems: string[]): void {
    this.#registration(clientId).certificates = certificatePems.map(parseCertificate);
  }

  /** Mints an access token signed with the simulator's key (no HTTP, not counted). */
  async issueToken(options: IssueTokenOptions): Promise<string> {
    const clientId = options.clientId ?? EntraSimulator.testClientId;
    const registered = this.#apps.get(clientId.toLowerCase());
    const tenantId = (
      options.tenantId ??
      registered?.tenantId ??
      this.#tenants.values().next().value
    )?.toLowerCase();
    if (!tenantId) throw new Error('EntraSimulator.issueToken: no tenant registered; pass tenantId');
    return this.#sign({
      audience: stripDefaultScope(options.audience),
      clientId,
      tenantId,
      roles: options.roles ?? registered?.roles,
      expiresInSeconds: options.expiresInSeconds ?? this.#tokenLifetime,
      issuer: options.issuer,
      appidacr: '1',
    });
  }

  /**
   * Verifies a token this simulator issued: signature, `aud` = `expectedAudience`, `iss` matching
   * its `tid`, a known tenant (and `options.tenantId` when given), `nbf`/`exp` against the clock.
   * Resolves `undefined` when the token is not acceptable; never throws for a bad token.
   */
  async verifyAccessToken(
    token: string,
    expectedAudience: string,
    options: { tenantId?: string } = {},
  ): Promise<AccessTokenClaims | undefined> {
    const signing = this.#signing;
    if (!signing) return undefined;
    try {
      const { payload } = await jwtVerify(token, signing.publicKey, {
        algorithms: ['RS256'],
        audience: stripDefaultScope(expectedAudience),
        currentDate: new Date(this.#now()),
        requiredClaims: ['exp', 'nbf', 'iat', 'tid', 'appid'],
      });
      const claims = payload as unknown as AccessTokenClaims;
      if (typeof claims.tid !== 'string' || !this.#tenants.has(claims.tid.toLowerCase())) return undefined;
      if (claims.iss !== accessTokenIssuer(claims.tid)) return undefined;
      if (options.tenantId && claims.tid.toLowerCase() !== options.tenantId.toLowerCase()) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  #registration(clientId: string): Registration {
    const registration = this.#apps.get(clientId.toLowerCase());
    if (!registration) throw new Error(`EntraSimulator: no application ${clientId} registered`);
    return registration;
  }

  async #sign(input: {
    audience: string;
    clientId: string;
    tenantId: string;
    roles: string[] | undefined;
    expiresInSeconds: number;
    issuer: string | undefined;
    appidacr: '1' | '2';
    /** User tokens: claims that replace or add to the app ones (`idtyp`, `scp`, `amr`, `oid`, …). */
    extraClaims?: Record<string, unknown>;
  }): Promise<string> {
    const signing = this.#signing;
    if (!signing) throw new Error('EntraSimulator is not started');
    const now = Math.floor(this.#now() / 1000);
    // Entra back-dates iat/nbf by five minutes; an already expired token stays consistent (nbf < exp).
    const validFrom = Math.min(now, now + input.expiresInSeconds) - 300;
    const objectId = stableGuid(`${input.tenantId}/${input.clientId.toLowerCase()}`);
    const claims: Omit<AccessTokenClaims, 'iat' | 'nbf' | 'exp' | 'aud' | 'iss'> = {
      tid: input.tenantId,
      appid: input.clientId,
      azp: input.clientId,
      appidacr: input.appidacr,
      oid: objectId,
      sub: objectId,
      idtyp: 'app',
      ver: '1.0',
      uti: newGuid().replace(/-/g, ''),
      ...(input.roles && input.roles.length > 0 ? { roles: input.roles } : {}),
    };
    return new SignJWT({ ...claims, ...input.extraClaims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: signing.kid, x5t: signing.kid })
      .setAudience(input.audience)
      .setIssuer(input.issuer ?? accessTokenIssuer(input.tenantId))
      .setIssuedAt(validFrom)
      .setNotBefore(validFrom)
      .setExpirationTime(now + input.expiresInSeconds)
      .sign(signing.privateKey);
  }

  protected override async handle(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.latencyMs > 0 && !(await pause(this.latencyMs, signal))) return;
    const { segments } = parseRequestUrl(req);
    const base = `https://${header(req, 'host') ?? new URL(this.url).host}`;
    const [tenant, ...rest] = segments;
    const route = rest.join('/').toLowerCase();
    if (tenant && req.method === 'GET') {
      if (route === 'v2.0/.well-known/openid-configuration' || route === '.well-known/openid-configuration') {
        this.counts.discoveryRequests++;
        const v2 = route.startsWith('v2.0');
        const known = this.#resolveTenant(tenant);
        if (known === undefined) return this.#sendError(req, res, tenantNotFound(tenant, 'invalid_tenant'));
        return sendJson(res, 200, v2 ? discoveryV2(base, known) : discoveryV1(base, known), {
          'Cache-Control': 'max-age=86400, private',
        });
      }
      if (route === 'discovery/v2.0/keys' || route === 'discovery/keys') {
        return sendJson(res, 200, { keys: [this.#signing?.jwk] });
      }
    }
    if (tenant && (route === 'oauth2/v2.0/token' || route === 'oauth2/token')) {
      if (req.method !== 'POST') {
        return this.#sendError(req, res, {
          status: 405,
          error: 'invalid_request',
          code: 900561,
          description: 'The endpoint only accepts POST requests.',
        });
      }
      return this.#token(req, res, base, tenant, route === 'oauth2/v2.0/token');
    }
    if (tenant && route === 'oauth2/v2.0/devicecode' && req.method === 'POST') {
      return this.#deviceAuthorization(req, res, base, tenant);
    }
    sendJson(res, 404, {
      error: 'not_found',
      error_description: `No such endpoint: ${req.method} ${req.url}`,
    });
  }

  /** Tenant id as discovery shows it: a known GUID, or the `{tenantid}` template for common names. */
  #resolveTenant(tenant: string): string | undefined {
    const lower = tenant.toLowerCase();
    if (this.#tenants.has(lower)) return lower;
    if (lower === 'common' || lower === 'organizations') return '{tenantid}';
    return undefined;
  }

  async #token(
    req: IncomingMessage,
    res: ServerResponse,
    base: string,
    tenant: string,
    v2: boolean,
  ): Promise<void> {
    this.counts.tokenRequests++;
    let form: URLSearchParams;
    try {
      form = new URLSearchParams(await readBody(req, 64 * 1024));
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return this.#fail(req, res, {
          status: 413,
          error: 'invalid_request',
          code: 90010,
          description: error.message,
        });
      }
      throw error;
    }
    const clientId = form.get('client_id') ?? '';
    const grant: GrantKind = form.has('client_assertion')
      ? 'assertion'
      : form.has('client_secret')
        ? 'secret'
        : 'other';
    bump(this.counts.tokenRequestsByClientId, clientId.toLowerCase());
    this.counts.tokenRequestsByGrant[grant]++;

    const appliesTo = (failure: EntraFailure) =>
      failure.clientId === undefined || failure.clientId.toLowerCase() === clientId.toLowerCase();
    const injected = this.takeFailure(appliesTo) ?? this.#ongoingOutage(appliesTo);
    if (injected) {
      this.counts.injectedFailures++;
      this.#lastInjectedFailureAt = this.#now();
      return this.#fail(req, res, injectedError(injected.status), injected.retryAfterSeconds);
    }

    const tenantId = tenant.toLowerCase();
    if (!this.#tenants.has(tenantId)) return this.#fail(req, res, tenantNotFound(tenant, 'invalid_request'));
    const grantType = form.get('grant_type') ?? '';
    if (!['client_credentials', 'refresh_token', DEVICE_CODE_GRANT].includes(grantType)) {
      return this.#fail(req, res, {
        status: 400,
        error: 'unsupported_grant_type',
        code: 70003,
        description: `The app requested an unsupported grant type '${grantType}'. This simulator supports client_credentials, refresh_token and the device code grant.`,
      });
    }
    if (!clientId) return this.#fail(req, res, missingParameter('client_id'));
    const app = this.#apps.get(clientId.toLowerCase());
    if (!app || app.tenantId !== tenantId) {
      return this.#fail(req, res, applicationNotFound(clientId, tenant));
    }

    let appidacr: '1' | '2';
    if (grant === 'secret') {
      const secret = form.get('client_secret') ?? '';
      if (!app.secrets.some((candidate) => sameSecret(candidate, secret))) {
        return this.#fail(req, res, {
          status: 401,
          error: 'invalid_client',
          code: 7000215,
          description: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        });
      }
      appidacr = '1';
    } else if (grant === 'assertion') {
      if (form.get('client_assertion_type') !== JWT_BEARER) {
        return this.#fail(req, res, {
          status: 400,
          error: 'invalid_request',
          code: 700025,
          description: `Client assertion type '${form.get('client_assertion_type') ?? ''}' is not supported; use '${JWT_BEARER}'.`,
        });
      }
      const problem = await this.#verifyAssertion(form.get('client_assertion') ?? '', app, base, tenant);
      if (problem) return this.#fail(req, res, problem);
      appidacr = '2';
    } else {
      return this.#fail(req, res, {
        status: 401,
        error: 'invalid_client',
        code: 7000218,
        description:
          "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      });
    }

    if (grantType !== 'client_credentials') {
      const grant =
        grantType === 'refresh_token'
          ? this.users.redeemRefreshToken({
              refreshToken: form.get('refresh_token') ?? '',
              clientId: app.clientId,
              tenantId,
              scope: form.get('scope'),
            })
          : this.users.redeemDeviceCode({
              deviceCode: form.get('device_code') ?? '',
              clientId: app.clientId,
              tenantId,
            });
      return this.#answerUserGrant(req, res, grant, appidacr);
    }

    const audience = v2 ? resourceFromScope(form.get('scope')) : form.get('resource') || undefined;
    if (typeof audience !== 'string') return this.#fail(req, res, audience ?? missingParameter('resource'));

    const token = await this.#sign({
      audience,
      clientId: app.clientId,
      tenantId,
      roles: app.roles,
      expiresInSeconds: this.#tokenLifetime,
      issuer: undefined,
      appidacr,
    });
    this.counts.tokensIssued++;
    sendJson(
      res,
      200,
      {
        token_type: 'Bearer',
        expires_in: this.#tokenLifetime,
        ext_expires_in: this.#tokenLifetime,
        access_token: token,
      },
      { ...traceHeaders(req), 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' },
    );
  }

  async #answerUserGrant(
    req: IncomingMessage,
    res: ServerResponse,
    grant: UserTokenGrant | UserGrantError,
    appidacr: '1' | '2',
  ): Promise<void> {
    if ('error' in grant) return this.#fail(req, res, grant);
    const token = await this.#sign({
      audience: grant.resource,
      clientId: grant.clientId,
      tenantId: grant.tenantId,
      roles: undefined,
      expiresInSeconds: this.#tokenLifetime,
      issuer: undefined,
      appidacr,
      extraClaims: userClaims(grant),
    });
    this.counts.tokensIssued++;
    sendJson(
      res,
      200,
      {
        token_type: 'Bearer',
        scope: grant.scopes.map((s) => `${grant.resource}/${s}`).join(' '),
        expires_in: this.#tokenLifetime,
        ext_expires_in: this.#tokenLifetime,
        access_token: token,
        ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      },
      { ...traceHeaders(req), 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' },
    );
  }

  /** RFC 8628 device authorization: a public endpoint (client id only), for a registered app. */
  async #deviceAuthorization(
    req: IncomingMessage,
    res: ServerResponse,
    base: string,
    tenant: string,
  ): Promise<void> {
    const form = new URLSearchParams(await readBody(req, 64 * 1024));
    const clientId = form.get('client_id') ?? '';
    const tenantId = tenant.toLowerCase();
    if (!this.#tenants.has(tenantId))
      return this.#sendError(req, res, tenantNotFound(tenant, 'invalid_request'));
    const app = this.#apps.get(clientId.toLowerCase());
    if (!app || app.tenantId !== tenantId) {
      return this.#sendError(req, res, applicationNotFound(clientId, tenant));
    }
    sendJson(
      res,
      200,
      this.users.startDeviceAuthorization({
        clientId: app.clientId,
        tenantId,
        scope: form.get('scope') ?? '',
        verificationBase: base,
      }),
      { ...traceHeaders(req), 'Cache-Control': 'no-store' },
    );
  }

  #ongoingOutage(appliesTo: (failure: EntraFailure) => boolean): EntraFailure | undefined {
    const outage = this.#outage;
    if (!outage) return undefined;
    if (this.#now() >= outage.endsAt) {
      this.#outage = undefined;
      return undefined;
    }
    return appliesTo(outage) ? outage : undefined;
  }

  async #verifyAssertion(
    assertion: string,
    app: Registration,
    base: string,
    tenant: string,
  ): Promise<TokenError | undefined> {
    const invalid = (code: number, description: string): TokenError => ({
      status: 401,
      error: 'invalid_client',
      code,
      description,
    });
    let headerParams: ReturnType<typeof decodeProtectedHeader>;
    try {
      headerParams = decodeProtectedHeader(assertion);
    } catch {
      return invalid(50027, 'JWT token is invalid or malformed.');
    }
    const sha256 =
      typeof headerParams['x5t#S256'] === 'string' ? b64urlToHex(headerParams['x5t#S256']) : undefined;
    const sha1 = typeof headerParams.x5t === 'string' ? b64urlToHex(headerParams.x5t) : undefined;
    const candidates =
      sha256 || sha1
        ? app.certificates.filter((cert) => cert.sha256 === sha256 || cert.sha1 === sha1)
        : app.certificates;
    if (candidates.length === 0) {
      return invalid(
        700027,
        `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${(sha1 ?? sha256 ?? '').toUpperCase()}']`,
      );
    }
    const audiences = [
      `${base}/${tenant}/oauth2/v2.0/token`,
      `${base}/${tenant}/oauth2/token`,
      `${base}/${tenant}/v2.0`,
      `${this.url}/${tenant}/oauth2/v2.0/token`,
    ];
    let lastError: unknown;
    for (const candidate of candidates) {
      try {
        await jwtVerify(assertion, candidate.key, {
          algorithms: ['RS256', 'PS256'],
          issuer: app.clientId,
          subject: app.clientId,
          audience: audiences,
          currentDate: new Date(this.#now()),
          clockTolerance: ASSERTION_CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp'],
        });
        return undefined;
      } catch (error) {
        lastError = error;
      }
    }
    if (lastError instanceof joseErrors.JWTExpired) {
      return invalid(700024, 'Client assertion is not within its valid time range.');
    }
    if (lastError instanceof joseErrors.JWTClaimValidationFailed) {
      return invalid(
        700021,
        `Client assertion application identifier doesn't match 'client_id' parameter, or its audience is not this token endpoint (${lastError.claim} check failed).`,
      );
    }
    return invalid(700027, 'Client assertion failed signature validation.');
  }

  #fail(req: IncomingMessage, res: ServerResponse, error: TokenError, retryAfterSeconds?: number): void {
    this.counts.failures++;
    this.#sendError(req, res, error, retryAfterSeconds);
  }

  #sendError(req: IncomingMessage, res: ServerResponse, error: TokenError, retryAfterSeconds?: number): void {
    const traceId = newGuid();
    const correlationId = header(req, 'client-request-id') ?? newGuid();
    const timestamp = new Date(this.#now())
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    sendJson(
      res,
      error.status,
      {
        error: error.error,
        error_description: `AADSTS${error.code}: ${error.description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
        error_codes: [error.code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `https://login.microsoftonline.com/error?code=${error.code}`,
      },
      {
        ...traceHeaders(req),
        'Cache-Control': 'no-store, no-cache',
        ...(retryAfterSeconds !== undefined ? { 'Retry-After': String(retryAfterSeconds) } : {}),
      },
    );
  }
}

function parseCertificate(pem: string): Registration['certificates'][number] {
  const x509 = new X509Certificate(pem);
  return {
    key: createPublicKey(x509.publicKey.export({ type: 'spki', format: 'pem' })),
    sha1: createHash('sha1').update(x509.raw).digest('hex'),
    sha256: createHash('sha256').update(x509.raw).digest('hex'),
  };
}

function b64urlToHex(value: string): string {
  return Buffer.from(value, 'base64url').toString('hex');
}

function sameSecret(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

function stripDefaultScope(scope: string): string {
  return scope.endsWith('/.default') ? scope.slice(0, -'/.default'.length) : scope;
}

/** The resource of a client-credentials `scope`, or the error Entra answers. */
function resourceFromScope(scope: string | null): string | TokenError {
  const scopes = (scope ?? '').split(' ').filter((s) => s.length > 0 && !OIDC_SCOPES.has(s));
  if (scopes.length === 0) {
    return {
      status: 400,
      error: 'invalid_scope',
      code: 900144,
      description: "The request body must contain the following parameter: 'scope'.",
    };
  }
  const resource = scopes.find((s) => s.endsWith('/.default'));
  if (!resource || scopes.length > 1) {
    return {
      status: 400,
      error: 'invalid_scope',
      code: 1002012,
      description: `The provided value for scope ${scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    };
  }
  return stripDefaultScope(resource);
}

function missingParameter(name: string): TokenError {
  return {
    status: 400,
    error: 'invalid_request',
    code: 900144,
    description: `The request body must contain the following parameter: '${name}'.`,
  };
}

function tenantNotFound(tenant: string, error: string): TokenError {
  return {
    status: 400,
    error,
    code: 90002,
    description: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  };
}

function applicationNotFound(clientId: string, tenant: string): TokenError {
  return {
    status: 400,
    error: 'unauthorized_client',
    code: 700016,
    description: `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  };
}

function injectedError(status: number): TokenError {
  if (status === 503) {
    return {
      status,
      error: 'temporarily_unavailable',
      code: 90033,
      description: 'A transient error has occurred. Please try again.',
    };
  }
  if (status >= 500) {
    return {
      status,
      error: 'server_error',
      code: 50000,
      description: 'There was an error issuing a token or an issue with our sign-in service.',
    };
  }
  if (status === 429) {
    return {
      status,
      error: 'temporarily_unavailable',
      code: 50196,
      description: 'The server terminated an operation because it encountered a client request loop.',
    };
  }
  return { status, error: 'invalid_request', code: 90000, description: 'Injected failure.' };
}

function traceHeaders(req: IncomingMessage): Record<string, string> {
  const clientRequestId = header(req, 'client-request-id');
  return {
    'x-ms-request-id': newGuid(),
    'x-ms-ests-server': 'simulator',
    ...(clientRequestId ? { 'client-request-id': clientRequestId } : {}),
  };
}

/** A GUID derived from `seed`, so an app keeps the same object id across runs. */
function stableGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function discoveryV2(base: string, tenant: string): Record<string, unknown> {
  return {
    token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${base}/${tenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/${tenant}/kerberos`,
    tenant_region_scope: 'WW',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

function discoveryV1(base: string, tenant: string): Record<string, unknown> {
  return {
    token_endpoint: `${base}/${tenant}/oauth2/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/common/discovery/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    scopes_supported: ['openid'],
    issuer: accessTokenIssuer(tenant),
    microsoft_multi_refresh_token: true,
    authorization_endpoint: `${base}/${tenant}/oauth2/authorize`,
    device_authorization_endpoint: `${base}/${tenant}/oauth2/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/${tenant}/oauth2/logout`,
    tenant_region_scope: 'WW',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}
