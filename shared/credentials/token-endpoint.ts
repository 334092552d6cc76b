import { createHash, createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import { SignJWT } from 'jose';
import { CredentialError, type CredentialMaterial, isCertificateMaterial } from './app-credential.js';

/**
 * The Microsoft Entra ID v2 endpoints of one tenant that the secure application model needs: the
 * refresh-token grant and the device authorization grant (RFC 8628), with the app authenticated
 * as a confidential client (its secret, or a certificate's signed client assertion).
 *
 * Why not MSAL: `acquireTokenByRefreshToken` exists only to migrate from ADAL and its result does
 * not hand back the rotated refresh token, which is exactly what must be written back to Key
 * Vault; @azure/identity has no refresh-token credential. So the form posts go through an
 * `@azure/core-rest-pipeline` pipeline, as every Azure SDK sends its requests: retries with
 * backoff (and Retry-After) for 5xx, 429 and network failures; OAuth errors (4xx) are answers,
 * never retried.
 */
export interface TokenEndpointOptions {
  tenantId: string;
  clientId: string;
  /** `AZURE_AUTHORITY_HOST`; Entra's public cloud when unset. */
  authorityHost?: string;
  /** Replaces the default HTTP client (tests). */
  httpClient?: HttpClient;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  now?: () => number;
}

/** A successful token answer. Never logged. */
export interface TokenAnswer {
  accessToken: string;
  expiresInSeconds: number;
  /** A new refresh token, when Entra rotated it (it usually does). */
  refreshToken?: string;
  scope?: string;
}

/** RFC 8628 §3.2, as Entra answers it. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresInSeconds: number;
  intervalSeconds: number;
  /** Entra's own sentence telling the user where to go and which code to enter. */
  message?: string;
}

/** An OAuth error answer (`error`, `error_description`, `error_codes`): never carries a token. */
export class TokenEndpointError extends Error {
  override readonly name = 'TokenEndpointError';
  constructor(
    /** `invalid_grant`, `invalid_client`, `authorization_pending`, …; `http_<status>` without a body. */
    readonly error: string,
    readonly statusCode: number,
    /** The AADSTS code, when Entra sent one. */
    readonly aadsts: number | undefined,
    /** The first line of `error_description` (the AADSTS sentence; trace ids follow on later lines). */
    readonly description: string,
  ) {
    super(`${error}${aadsts !== undefined ? ` (AADSTS${aadsts})` : ''}: ${description}`.slice(0, 400));
  }
}

const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

export class EntraTokenEndpoint {
  readonly tokenUrl: string;
  readonly deviceCodeUrl: string;
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly now: () => number;

  constructor(private readonly options: TokenEndpointOptions) {
    const authority = `${(options.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '')}/${encodeURIComponent(options.tenantId)}`;
    this.tokenUrl = `${authority}/oauth2/v2.0/token`;
    this.deviceCodeUrl = `${authority}/oauth2/v2.0/devicecode`;
    this.now = options.now ?? Date.now;
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    // The default pipeline's log policy logs URLs and allow-listed headers only, never bodies.
    this.pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 },
      userAgentOptions: { userAgentPrefix: 'device-batch-status' },
    });
  }

  /** `grant_type=refresh_token`: an access token for `scope`, and usually a rotated refresh token. */
  async redeemRefreshToken(
    refreshToken: string,
    scope: string,
    client: CredentialMaterial,
    abortSignal?: AbortSignal,
  ): Promise<TokenAnswer> {
    const body = await this.post(
      this.tokenUrl,
      {
        grant_type: 'refresh_token',
        client_id: this.options.clientId,
        refresh_token: refreshToken,
        scope,
        ...(await this.clientAuthentication(client)),
      },
      abortSignal,
    );
    return tokenAnswer(body);
  }

  /** RFC 8628 §3.1: starts a device sign-in for `scope`. */
  async startDeviceAuthorization(scope: string, abortSignal?: AbortSignal): Promise<DeviceAuthorization> {
    const body = await this.post(
      this.deviceCodeUrl,
      { client_id: this.options.clientId, scope },
      abortSignal,
    );
    const {
      device_code,
      user_code,
      verification_uri,
      verification_uri_complete,
      expires_in,
      interval,
      message,
    } = body;
    if (
      typeof device_code !== 'string' ||
      typeof user_code !== 'string' ||
      typeof verification_uri !== 'string'
    ) {
      throw new TokenEndpointError(
        'invalid_response',
        200,
        undefined,
        'the device authorization answer lacks a code',
      );
    }
    return {
      deviceCode: device_code,
      userCode: user_code,
      verificationUri: verification_uri,
      verificationUriComplete:
        typeof verification_uri_complete === 'string' ? verification_uri_complete : undefined,
      expiresInSeconds: Number(expires_in) || 900,
      intervalSeconds: Number.isFinite(Number(interval)) ? Number(interval) : 5,
      message: typeof message === 'string' ? message : undefined,
    };
  }

  /** RFC 8628 §3.4: one poll; `authorization_pending` and `slow_down` come back as TokenEndpointError. */
  async redeemDeviceCode(
    deviceCode: string,
    client: CredentialMaterial,
    abortSignal?: AbortSignal,
  ): Promise<TokenAnswer> {
    const body = await this.post(
      this.tokenUrl,
      {
        grant_type: DEVICE_CODE_GRANT_TYPE,
        client_id: this.options.clientId,
        device_code: deviceCode,
        ...(await this.clientAuthentication(client)),
      },
      abortSignal,
    );
    return tokenAnswer(body);
  }

  /** The confidential client's proof: its secret, or a client assertion signed with its certificate's key. */
  private async clientAuthentication(material: CredentialMaterial): Promise<Record<string, string>> {
    if (!isCertificateMaterial(material)) return { client_secret: material.value };
    const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(
      material.value,
    )?.[0];
    const key = /-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (RSA |EC )?PRIVATE KEY-----/.exec(
      material.value,
    )?.[0];
    if (!certificate || !key) {
      throw new CredentialError(
        'the app credential is a PEM without both its certificate and its private key',
        'key_vault',
      );
    }
    const der = new X509Certificate(certificate).raw;
    const seconds = Math.floor(this.now() / 1000);
    const assertion = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        x5t: createHash('sha1').update(der).digest('base64url'),
        'x5t#S256': createHash('sha256').update(der).digest('base64url'),
      })
      .setIssuer(this.options.clientId)
      .setSubject(this.options.clientId)
      .setAudience(this.tokenUrl)
      .setIssuedAt(seconds)
      .setNotBefore(seconds)
      .setExpirationTime(seconds + 600)
      .sign(createPrivateKey(key));
    return { client_assertion_type: JWT_BEARER, client_assertion: assertion };
  }

  private async post(
    url: string,
    form: Record<string, string>,
    abortSignal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    const request = createPipelineRequest({
      url,
      method: 'POST',
      body: new URLSearchParams(form).toString(),
      headers: createHttpHeaders({
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      }),
      timeout: this.options.timeoutMs ?? 10_000,
      abortSignal,
    });
    const response = await this.pipeline.sendRequest(this.httpClient, request);
    let body: Record<string, unknown> = {};
    let isObject = false;
    try {
      const parsed: unknown = JSON.parse(response.bodyAsText ?? '');
      // A JSON `null` or a bare value is no answer either: judged by its status alone below.
      isObject = typeof parsed === 'object' && parsed !== null;
      if (isObject) body = parsed as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's error page): judged by its status alone below.
    }
    if (response.status === 200 && isObject) return body;
    const codes = Array.isArray(body.error_codes) ? (body.error_codes as unknown[]) : [];
    const description = typeof body.error_description === 'string' ? body.error_description : '';
    throw new TokenEndpointError(
      typeof body.error === 'string' ? body.error : `http_${response.status}`,
      response.status,
      typeof codes[0] === 'number' ? codes[0] : undefined,
      (description.split(/\r?\n/)[0] ?? '').replace(/^AADSTS\d+:\s*/, '').slice(0, 300) ||
        `Microsoft Entra ID answered ${response.status}`,
    );
  }
}

function tokenAnswer(body: Record<string, unknown>): TokenAnswer {
  if (typeof body.access_token !== 'string') {
    throw new TokenEndpointError('invalid_response', 200, undefined, 'the token answer has no access token');
  }
  return {
    accessToken: body.access_token,
    expiresInSeconds: Number(body.expires_in) || 3600,
    refreshToken:
      typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
    scope: typeof body.scope === 'string' ? body.scope : undefined,
  };
}
