import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';

/** The app's own credential material, as stored in Key Vault. */
export interface CredentialMaterial {
  value: string;
  /** `application/x-pem-file` marks a PEM certificate (with its private key); anything else is a client secret. */
  contentType?: string;
  /** Key Vault secret version, when the material came from a vault. */
  version?: string;
}

export interface CredentialMaterialSource {
  /** Where the material comes from, for messages (never the material itself). */
  readonly description: string;
  read(options?: { abortSignal?: AbortSignal }): Promise<CredentialMaterial>;
}

/**
 * Raised when the app cannot obtain its own credential; says where it failed, never what the secret
 * is. `consent` (App+User only): the refresh token is missing, revoked, expired or lacks MFA, and
 * only an admin signing in again can fix it.
 */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
  constructor(
    message: string,
    readonly stage: 'key_vault' | 'token' | 'consent',
    readonly statusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const PEM_CONTENT_TYPE = 'application/x-pem-file';

/** Reads the credential from Key Vault with SecretClient (DefaultAzureCredential behind it). */
export class KeyVaultCredentialSource implements CredentialMaterialSource {
  readonly description: string;
  constructor(
    private readonly secrets: SecretClient,
    private readonly secretName: string,
  ) {
    this.description = `Key Vault secret '${secretName}' in ${secrets.vaultUrl}`;
  }

  async read(options: { abortSignal?: AbortSignal } = {}): Promise<CredentialMaterial> {
    try {
      const secret = await this.secrets.getSecret(this.secretName, { abortSignal: options.abortSignal });
      if (!secret.value) throw new CredentialError(`${this.description} has no value`, 'key_vault');
      return {
        value: secret.value,
        contentType: secret.properties.contentType,
        version: secret.properties.version,
      };
    } catch (error) {
      if (error instanceof CredentialError) throw error;
      const statusCode = (error as { statusCode?: number }).statusCode;
      const reason =
        statusCode === 404
          ? 'was not found'
          : statusCode === 403
            ? 'could not be read: the app identity lacks the Key Vault Secrets User role'
            : `could not be read (${statusCode ?? (error as Error).name})`;
      throw new CredentialError(`${this.description} ${reason}`, 'key_vault', statusCode, { cause: error });
    }
  }
}

/** Local development only: the secret comes from a setting instead of a vault. */
export class StaticCredentialSource implements CredentialMaterialSource {
  readonly description = 'the PARTNER_CENTER_CLIENT_SECRET setting';
  constructor(private readonly value: string) {}
  async read(): Promise<CredentialMaterial> {
    return { value: this.value };
  }
}

export interface AppCredentialOptions {
  tenantId: string;
  clientId: string;
  source: CredentialMaterialSource;
  /** How long vault material is trusted before it is read again. */
  cacheTtlMs: number;
  authorityHost?: string;
  /** Loopback stand-ins have no instance-discovery endpoint (docs/design.md, "Local stand-ins"). */
  disableInstanceDiscovery?: boolean;
  now?: () => number;
}

interface CachedCredential {
  material: CredentialMaterial;
  credential: TokenCredential;
  readAt: number;
}

/**
 * The Partner Center app credential: material read from Key Vault and turned into a client-secret
 * or certificate credential from @azure/identity (which caches tokens).
 *
 * - Concurrent cold callers share one vault read (single flight).
 * - Material is re-read after `cacheTtlMs`; the identity credential (and its token cache) is kept
 *   while the material is unchanged.
 * - `invalidate()` forces the next call to re-read the vault: Partner Center answering 401 is how
 *   a rotation shows itself, and the app recovers without a restart.
 */
export class AppCredential implements TokenCredential {
  private cached?: CachedCredential;
  private inFlight?: Promise<CachedCredential>;
  private readonly tokenFlights = new Map<string, Promise<AccessToken | null>>();
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly options: AppCredentialOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * MSAL does not merge concurrent token requests for a cold cache: concurrent callers asking for
   * the same scopes share one request here.
   */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const key = `${[scopes].flat().join(' ')}|${options?.claims ?? ''}`;
    const existing = this.tokenFlights.get(key);
    if (existing) return existing;
    const flight = this.acquireToken(scopes, options).finally(() => this.tokenFlights.delete(key));
    this.tokenFlights.set(key, flight);
    return flight;
  }

  private async acquireToken(
    scopes: string | string[],
    options?: GetTokenOptions,
  ): Promise<AccessToken | null> {
    const { credential } = await this.current();
    try {
      return await credential.getToken(scopes, options);
    } catch (error) {
      throw new CredentialError(
        `Microsoft Entra ID refused a token for app ${this.options.clientId} in tenant ${this.options.tenantId}: ${firstLine(error)}`,
        'token',
        (error as { statusCode?: number }).statusCode,
        { cause: error },
      );
    }
  }

  /** Drops the cached material; the next token request reads the vault again. */
  invalidate(): void {
    this.cached = undefined;
    this.inFlight = undefined;
    this.generation += 1;
  }

  /**
   * Reads (or reuses) the material; exposed for deep health checks, which pass `maxAgeMs` to have
   * the vault read again when the cached material is older than that (never longer than the TTL).
   */
  async current(options: { maxAgeMs?: number } = {}): Promise<CachedCredential> {
    const cached = this.cached;
    const maxAgeMs = Math.min(this.options.cacheTtlMs, options.maxAgeMs ?? Number.POSITIVE_INFINITY);
    if (cached && this.now() - cached.readAt < maxAgeMs) return cached;
    if (!this.inFlight) {
      // Not tied to any one caller's abort signal: the read is shared by every waiting caller.
      const generation = this.generation;
      const flight: Promise<CachedCredential> = this.load(cached)
        .then((loaded) => {
          // An invalidate() during the read means this material may already be stale: don't keep it.
          if (generation === this.generation) this.cached = loaded;
          return loaded;
        })
        .finally(() => {
          if (this.inFlight === flight) this.inFlight = undefined;
        });
      this.inFlight = flight;
    }
    return this.inFlight;
  }

  private async load(previous: CachedCredential | undefined): Promise<CachedCredential> {
    const material = await this.options.source.read();
    const readAt = this.now();
    if (previous && previous.material.value === material.value) {
      return { ...previous, material, readAt };
    }
    return { material, credential: this.build(material), readAt };
  }

  private build(material: CredentialMaterial): TokenCredential {
    const { tenantId, clientId, authorityHost, disableInstanceDiscovery } = this.options;
    const common = { authorityHost, disableInstanceDiscovery };
    if (isCertificateMaterial(material)) {
      if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(material.value)) {
        throw new CredentialError(
          `${this.options.source.description} is a PEM certificate without its private key`,
          'key_vault',
        );
      }
      return new ClientCertificateCredential(tenantId, clientId, { certificate: material.value }, common);
    }
    return new ClientSecretCredential(tenantId, clientId, material.value, common);
  }
}

/** A PEM certificate with its key (by content type, or by its look), as opposed to a client secret. */
export function isCertificateMaterial(material: CredentialMaterial): boolean {
  return material.contentType === PEM_CONTENT_TYPE || material.value.includes('-----BEGIN');
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Entra messages put the AADSTS code first; trace ids and timestamps follow on later lines.
  return message.split('\n')[0]!.slice(0, 300);
}
