import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims, EntraSimulator } from './entra.js';
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
 * Azure Key Vault data-plane simulator (secrets only), for the real `SecretClient` of
 * @azure/keyvault-secrets built with `{ disableChallengeResourceVerification: true }` (the SDK
 * otherwise insists that the vault host ends with `.vault.azure.net`).
 *
 * Wire contract, as the SDK uses it (`?api-version=` is required on every call):
 * - The SDK's first request carries no token and no body; it gets `401` with
 *   `WWW-Authenticate: Bearer authorization="{entraUrl}/{tenantId}", resource="https://vault.azure.net"`,
 *   takes the tenant from that URL, gets a token for `https://vault.azure.net/.default` and resends.
 *   Tokens are verified through the Entra simulator (audience `https://vault.azure.net`, the vault's
 *   tenant); a bad one gets `401` again.
 * - `GET /secrets/{name}` and `/secrets/{name}/` (latest; the SDK sends the trailing slash),
 *   `GET /secrets/{name}/{version}`, `PUT /secrets/{name}` (new version), `GET /secrets`,
 *   `GET /secrets/{name}/versions`. Names are case-insensitive, versions are 32 hex digits.
 * - A secret: `{ value, id: "{vaultUrl}/secrets/{name}/{version}", contentType?, tags?,
 *   attributes: { enabled, created, updated, recoveryLevel, recoverableDays } }` (times in epoch s).
 * - Unknown secret or version: `404 { error: { code: "SecretNotFound", message } }`.
 */

/** Options of {@link KeyVaultSimulator}. */
export interface KeyVaultSimulatorOptions {
  tls: TlsMaterial;
  /** Issues and verifies the bearer tokens; its URL is the challenge's `authorization`. */
  entra: EntraSimulator;
  /** The vault's tenant: the challenge names it and tokens from other tenants are refused. */
  tenantId: string;
  /** Clock for `created`/`updated`, epoch ms. Default `Date.now`. */
  now?: () => number;
  host?: string;
}

/** Options of {@link KeyVaultSimulator.setSecret}. */
export interface SetSecretOptions {
  contentType?: string;
  tags?: Record<string, string>;
  /** A disabled version answers `403 Forbidden` (`SecretDisabled`) when read. Default true. */
  enabled?: boolean;
}

/** Identifies one stored secret version. */
export interface SecretVersionRef {
  name: string;
  version: string;
  /** `{vaultUrl}/secrets/{name}/{version}`. */
  id: string;
}

/** A failure injected by {@link KeyVaultSimulator.failNext}, answered to authenticated requests. */
export interface KeyVaultFailure {
  /** 403 answers Key Vault's `Forbidden`/`ForbiddenByRbac`; 5xx its `InternalServerError`/`ServiceUnavailable`. */
  status: number;
  /** How many requests fail (default 1). */
  times?: number;
  /** Only requests for this secret name fail. */
  secretName?: string;
  /** Adds `Retry-After` (seconds). */
  retryAfterSeconds?: number;
}

/** Counters since start or the last `reset()`. */
export interface KeyVaultCounters {
  /** Every request, including challenge round-trips. */
  requests: number;
  /** Secret GETs that passed authentication (answered 200 or not). */
  secretReads: number;
  secretReadsByName: Record<string, number>;
  secretWrites: number;
  secretWritesByName: Record<string, number>;
  /** Unauthenticated requests answered with the `401` challenge. */
  challenges: number;
  /** Requests whose bearer token was refused (`401`). */
  rejectedTokens: number;
  /** `403` answers because the caller has no access (not injected ones). */
  forbidden: number;
  injectedFailures: number;
}

interface StoredVersion {
  version: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  created: number;
  updated: number;
}

interface StoredSecret {
  name: string;
  versions: StoredVersion[];
}

const AUDIENCE = 'https://vault.azure.net';
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const RECOVERY = { recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 } as const;

function emptyCounters(): KeyVaultCounters {
  return {
    requests: 0,
    secretReads: 0,
    secretReadsByName: {},
    secretWrites: 0,
    secretWritesByName: {},
    challenges: 0,
    rejectedTokens: 0,
    forbidden: 0,
    injectedFailures: 0,
  };
}

/**
 * The Key Vault secrets simulator. See the module comment for the wire contract. Its `url` is the
 * vault URL (`KEY_VAULT_URL`); `failNext` fails authenticated requests, `reset()` keeps secrets
 * and access rules.
 */
export class KeyVaultSimulator extends FaultInjectingSimulator<KeyVaultCounters, KeyVaultFailure> {
  readonly #entra: EntraSimulator;
  readonly #tenantId: string;
  readonly #now: () => number;
  readonly #secrets = new Map<string, StoredSecret>();
  #allowedClientIds: Set<string> | undefined;

  constructor(options: KeyVaultSimulatorOptions) {
    super('KeyVaultSimulator', options, emptyCounters);
    this.#entra = options.entra;
    this.#tenantId = options.tenantId.toLowerCase();
    this.#now = options.now ?? Date.now;
  }

  /** Adds a version (rotation = calling it again) and returns it; works before `start()` too. */
  setSecret(name: string, value: string, options: SetSecretOptions = {}): SecretVersionRef {
    if (!SECRET_NAME.test(name)) throw new Error(`KeyVaultSimulator: invalid secret name '${name}'`);
    const key = name.toLowerCase();
    const secret = this.#secrets.get(key) ?? { name, versions: [] };
    this.#secrets.set(key, secret);
    const now = Math.floor(this.#now() / 1000);
    const version = newGuid().replace(/-/g, '');
    secret.versions.push({
      version,
      value,
      contentType: options.contentType,
      tags: options.tags ? { ...options.tags } : undefined,
      enabled: options.enabled ?? true,
      created: now,
      updated: now,
    });
    return { name: secret.name, version, id: this.#id(secret.name, version) };
  }

  /** The stored value of the latest (or the given) version, without HTTP. */
  getSecretValue(name: string, version?: string): string | undefined {
    return this.#find(name, version)?.value;
  }

  /** Every version of a secret, oldest first, without HTTP (empty when there is none). */
  listVersions(
    name: string,
  ): Array<{ version: string; value: string; contentType?: string; tags?: Record<string, string> }> {
    return (this.#secrets.get(name.toLowerCase())?.versions ?? []).map((v) => ({
      version: v.version,
      value: v.value,
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
    }));
  }

  /** Removes a secret and all its versions (no soft delete). */
  deleteSecret(name: string): void {
    this.#secrets.delete(name.toLowerCase());
  }

  /**
   * Only these client ids (the token's `appid`) may use the vault; others get `403 ForbiddenByRbac`.
   * `undefined` (the default) lets any valid token of the vault's tenant in.
   */
  restrictAccessTo(clientIds: string[] | undefined): void {
    this.#allowedClientIds = clientIds ? new Set(clientIds.map((id) => id.toLowerCase())) : undefined;
  }

  /** Adds a client id to the allowed list set by {@link restrictAccessTo}. */
  grantAccess(clientId: string): void {
    this.#allowedClientIds?.add(clientId.toLowerCase());
  }

  #id(name: string, version?: string): string {
    return version ? `${this.url}/secrets/${name}/${version}` : `${this.url}/secrets/${name}`;
  }

  #find(name: string, version?: string): StoredVersion | undefined {
    const secret = this.#secrets.get(name.toLowerCase());
    if (!secret) return undefined;
    if (!version) return secret.versions.at(-1);
    return secret.versions.find((v) => v.version === version.toLowerCase());
  }

  protected override async handle(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    this.counts.requests++;
    if (this.latencyMs > 0 && !(await pause(this.latencyMs, signal))) return;
    const { segments, query } = parseRequestUrl(req);
    const requestId = newGuid();
    const headers: Record<string, string> = {
      'x-ms-request-id': requestId,
      'x-ms-keyvault-service-version': '1.9.0.0-simulator',
      'x-ms-keyvault-region': 'local',
      'x-ms-keyvault-network-info': 'conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;',
      'Cache-Control': 'no-cache',
      ...(header(req, 'x-ms-client-request-id')
        ? { 'x-ms-client-request-id': header(req, 'x-ms-client-request-id') as string }
        : {}),
    };
    const error = (
      status: number,
      code: string,
      message: string,
      inner?: string,
      extra?: Record<string, string>,
    ) =>
      sendJson(
        res,
        status,
        { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
        { ...headers, ...extra },
      );

    // Authentication first, as Key Vault does: the challenge is how the SDK learns the tenant.
    const challenge = {
      'WWW-Authenticate': `Bearer authorization="${this.#entra.url}/${this.#tenantId}", resource="${AUDIENCE}"`,
    };
    const authorization = header(req, 'authorization');
    if (!authorization) {
      await drain(req);
      this.counts.challenges++;
      return error(
        401,
        'Unauthorized',
        'AKV10000: Request is missing a Bearer or PoP token.',
        undefined,
        challenge,
      );
    }
    const token = /^Bearer\s+(.+)$/i.exec(authorization)?.[1];
    const claims = token
      ? await this.#entra.verifyAccessToken(token, AUDIENCE, { tenantId: this.#tenantId })
      : undefined;
    if (!claims) {
      await drain(req);
      this.counts.rejectedTokens++;
      return error(
        401,
        'Unauthorized',
        `AKV10022: Invalid token: signature, audience (${AUDIENCE}), issuer, tenant (${this.#tenantId}) or lifetime is wrong.`,
        undefined,
        challenge,
      );
    }

    const [collection, name, third, ...extra] = segments;
    const secretName = name && SECRET_NAME.test(name) ? name : undefined;
    const isRead =
      req.method === 'GET' && collection === 'secrets' && secretName !== undefined && third !== 'versions';
    if (isRead && secretName) {
      this.counts.secretReads++;
      bump(this.counts.secretReadsByName, secretName.toLowerCase());
    }

    if (this.#allowedClientIds && !this.#allowedClientIds.has(claims.appid.toLowerCase())) {
      await drain(req);
      this.counts.forbidden++;
      return error(403, 'Forbidden', forbiddenMessage(claims, this.url, secretName), 'ForbiddenByRbac');
    }

    const injected = this.takeFailure(
      (failure) =>
        failure.secretName === undefined || failure.secretName.toLowerCase() === secretName?.toLowerCase(),
    );
    if (injected) {
      await drain(req);
      this.counts.injectedFailures++;
      const retryAfter =
        injected.retryAfterSeconds !== undefined
          ? { 'Retry-After': String(injected.retryAfterSeconds) }
          : undefined;
      if (injected.status === 403) {
        return error(
          403,
          'Forbidden',
          forbiddenMessage(claims, this.url, secretName),
          'ForbiddenByRbac',
          retryAfter,
        );
      }
      if (injected.status === 503) {
        return error(
          503,
          'ServiceUnavailable',
          'The service is temporarily unavailable. Retry later.',
          undefined,
          retryAfter,
        );
      }
      if (injected.status === 429) {
        return error(
          429,
          'Throttled',
          'Request was not processed because too many requests were received.',
          undefined,
          {
            'Retry-After': String(injected.retryAfterSeconds ?? 1),
          },
        );
      }
      return error(
        injected.status,
        'InternalServerError',
        'An unexpected error occurred.',
        undefined,
        retryAfter,
      );
    }

    if (!query.get('api-version')) {
      await drain(req);
      return error(400, 'BadParameter', "The 'api-version' query parameter is missing.");
    }
    if (collection !== 'secrets' || extra.length > 0) {
      await drain(req);
      return error(
        404,
        'NotFound',
        `The requested resource ${req.method} ${parseRequestUrl(req).path} was not found.`,
      );
    }
    if (name !== undefined && !secretName) {
      await drain(req);
      return error(
        400,
        'BadParameter',
        `The secret name '${name}' is invalid: use 1-127 letters, digits and dashes.`,
      );
    }

    if (req.method === 'GET' && !secretName) {
      const value = [...this.#secrets.values()].map((secret) => {
        const latest = secret.versions.at(-1) as StoredVersion;
        return this.#properties(secret.name, latest, false);
      });
      return sendJson(res, 200, { value, nextLink: null }, headers);
    }
    if (req.method === 'GET' && secretName && third === 'versions') {
      const secret = this.#secrets.get(secretName.toLowerCase());
      if (!secret) return error(404, 'SecretNotFound', notFoundMessage(secretName));
      const value = secret.versions.map((v) => this.#properties(secret.name, v, true));
      return sendJson(res, 200, { value, nextLink: null }, headers);
    }
    if (req.method === 'GET' && secretName) {
      const stored = this.#find(secretName, third || undefined);
      const secret = this.#secrets.get(secretName.toLowerCase());
      if (!stored || !secret) {
        return error(404, 'SecretNotFound', notFoundMessage(third ? `${secretName}/${third}` : secretName));
      }
      if (!stored.enabled) {
        return error(
          403,
          'Forbidden',
          'Operation get is not allowed on a disabled secret.',
          'SecretDisabled',
        );
      }
      return sendJson(res, 200, this.#bundle(secret.name, stored), headers);
    }
    if (req.method === 'PUT' && secretName && !third) {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 256 * 1024));
      } catch (cause) {
        const message =
          cause instanceof BodyTooLargeError ? cause.message : 'The request body is not valid JSON.';
        return error(400, 'BadParameter', message);
      }
      const parsed = parseSetBody(body);
      if (typeof parsed === 'string') return error(400, 'BadParameter', parsed);
      this.counts.secretWrites++;
      bump(this.counts.secretWritesByName, secretName.toLowerCase());
      const ref = this.setSecret(secretName, parsed.value, parsed.options);
      const stored = this.#find(ref.name, ref.version) as StoredVersion;
      return sendJson(res, 200, this.#bundle(ref.name, stored), headers);
    }
    await drain(req);
    return error(
      405,
      'MethodNotAllowed',
      `${req.method} is not supported by the Key Vault simulator on this path.`,
    );
  }

  #attributes(stored: StoredVersion): Record<string, unknown> {
    return { enabled: stored.enabled, created: stored.created, updated: stored.updated, ...RECOVERY };
  }

  #bundle(name: string, stored: StoredVersion): Record<string, unknown> {
    return {
      value: stored.value,
      ...(stored.contentType !== undefined ? { contentType: stored.contentType } : {}),
      id: this.#id(name, stored.version),
      attributes: this.#attributes(stored),
      ...(stored.tags ? { tags: stored.tags } : {}),
    };
  }

  #properties(name: string, stored: StoredVersion, withVersion: boolean): Record<string, unknown> {
    return {
      id: this.#id(name, withVersion ? stored.version : undefined),
      ...(stored.contentType !== undefined ? { contentType: stored.contentType } : {}),
      attributes: this.#attributes(stored),
      ...(stored.tags ? { tags: stored.tags } : {}),
    };
  }
}

async function drain(req: IncomingMessage): Promise<void> {
  try {
    await readBody(req, 1024 * 1024);
  } catch {
    // The answer does not depend on the body.
  }
}

function notFoundMessage(nameOrId: string): string {
  return `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`;
}

function forbiddenMessage(
  claims: AccessTokenClaims,
  vaultUrl: string,
  secretName: string | undefined,
): string {
  return [
    'Caller is not authorized to perform action on resource.',
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
    `Caller: appid=${claims.appid};oid=${claims.oid};iss=${claims.iss}`,
    "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
    `Resource: '${vaultUrl}/secrets/${secretName ?? ''}'`,
    'Assignment: (not found)',
    'DenyAssignmentId: null',
    'DecisionReason: null',
    `Vault: simulator;location=local`,
    '',
  ].join('\r\n');
}

function parseSetBody(body: unknown): { value: string; options: SetSecretOptions } | string {
  if (typeof body !== 'object' || body === null) return 'The request body must be a JSON object.';
  const record = body as Record<string, unknown>;
  if (typeof record.value !== 'string') return "The parameter 'value' is required and must be a string.";
  const options: SetSecretOptions = {};
  if (typeof record.contentType === 'string') options.contentType = record.contentType;
  if (record.tags && typeof record.tags === 'object') options.tags = record.tags as Record<string, string>;
  const attributes = record.attributes as { enabled?: unknown } | undefined;
  if (attributes && typeof attributes.enabled === 'boolean') options.enabled = attributes.enabled;
  return { value: record.value, options };
}
