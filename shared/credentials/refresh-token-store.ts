import type { SecretClient } from '@azure/keyvault-secrets';
import { CredentialError } from './app-credential.js';

/** Content type of the refresh-token secret: says what it is to whoever opens the vault. */
export const REFRESH_TOKEN_CONTENT_TYPE =
  'application/vnd.entra.refresh-token; scope=partner-center-user-impersonation';

/** One stored refresh token. `value` is never logged, reported or stored anywhere but the vault. */
export interface StoredRefreshToken {
  value: string;
  /** Key Vault secret version; absent for a rotated token not written yet. */
  version?: string;
  /** When it was last rotated (or consented): the `rotatedAt` tag, else the version's creation time. */
  rotatedAt?: Date;
}

/** Who wrote a version: the app rotating, or an admin's consent. */
export type RefreshTokenWriter = 'rotation' | 'consent';

export interface RefreshTokenStore {
  /** Where the token lives, for messages (never the token). */
  readonly description: string;
  /** The latest version, or `undefined` when there is none yet (nobody has consented). */
  read(): Promise<StoredRefreshToken | undefined>;
  /** Adds a new version and answers it. */
  write(value: string, options: { rotatedAt: Date; writer: RefreshTokenWriter }): Promise<StoredRefreshToken>;
}

/**
 * The refresh token as a Key Vault secret: each rotation is a new version (older ones stay for the
 * vault's history and soft delete), tagged with when and by whom it was written.
 */
export class KeyVaultRefreshTokenStore implements RefreshTokenStore {
  readonly description: string;

  constructor(
    private readonly secrets: SecretClient,
    private readonly secretName: string,
  ) {
    this.description = `Key Vault secret '${secretName}' in ${secrets.vaultUrl}`;
  }

  async read(): Promise<StoredRefreshToken | undefined> {
    try {
      const secret = await this.secrets.getSecret(this.secretName);
      if (!secret.value) return undefined;
      const tagged = secret.properties.tags?.rotatedAt;
      const rotatedAt =
        tagged && !Number.isNaN(Date.parse(tagged)) ? new Date(tagged) : secret.properties.createdOn;
      return { value: secret.value, version: secret.properties.version, rotatedAt };
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      if (statusCode === 404) return undefined;
      throw this.failure('could not be read', error, 'Key Vault Secrets User');
    }
  }

  async write(
    value: string,
    options: { rotatedAt: Date; writer: RefreshTokenWriter },
  ): Promise<StoredRefreshToken> {
    try {
      const stored = await this.secrets.setSecret(this.secretName, value, {
        contentType: REFRESH_TOKEN_CONTENT_TYPE,
        tags: {
          rotatedAt: options.rotatedAt.toISOString(),
          writtenBy: options.writer === 'consent' ? 'npm run consent' : 'device-batch-status rotation',
        },
      });
      return { value, version: stored.properties.version, rotatedAt: options.rotatedAt };
    } catch (error) {
      throw this.failure('could not be written', error, 'Key Vault Secrets Officer on this secret');
    }
  }

  private failure(what: string, error: unknown, role: string): CredentialError {
    const statusCode = (error as { statusCode?: number }).statusCode;
    const reason =
      statusCode === 403
        ? `${what}: the identity lacks the ${role} role`
        : `${what} (${statusCode ?? (error as Error).name})`;
    return new CredentialError(`${this.description} ${reason}`, 'key_vault', statusCode, { cause: error });
  }
}
