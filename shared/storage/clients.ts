import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { StorageConnection } from '../config/settings.js';

export interface StorageClientsOptions {
  /** Required for identity-based connections (managed identity in Azure, developer login locally). */
  credential?: TokenCredential;
  /**
   * Extra pipeline policies for every table request (per call). Tests use this to count what the
   * storage layer really sends to the service.
   */
  tablePolicies?: PipelinePolicy[];
}

export class StorageConfigurationError extends Error {
  override readonly name = 'StorageConfigurationError';
}

/**
 * Builds the table and blob clients for one storage connection, once, and creates each table and
 * container on first use. The creates are shared: concurrent first uses wait for the same request,
 * later uses do not touch the network; a failed create is retried by the next use.
 */
export class StorageClients {
  private readonly tables = new Map<string, TableClient>();
  private readonly containers = new Map<string, ContainerClient>();
  private readonly ensured = new Map<string, Promise<void>>();
  private blobService?: BlobServiceClient;

  constructor(
    private readonly connection: StorageConnection,
    private readonly options: StorageClientsOptions = {},
  ) {
    if (connection.kind === 'identity' && !options.credential) {
      throw new StorageConfigurationError(
        `${connection.settingName} is identity-based: a TokenCredential is required to reach ${connection.tableServiceUri}`,
      );
    }
  }

  /** A client for one table; not yet created in the service (see `ensureTable`). */
  tableClient(tableName: string): TableClient {
    let client = this.tables.get(tableName);
    if (!client) {
      client = createTableClient(this.connection, tableName, this.options);
      this.tables.set(tableName, client);
    }
    return client;
  }

  blobServiceClient(): BlobServiceClient {
    this.blobService ??= createBlobServiceClient(this.connection, this.options.credential);
    return this.blobService;
  }

  containerClient(containerName: string): ContainerClient {
    let client = this.containers.get(containerName);
    if (!client) {
      client = this.blobServiceClient().getContainerClient(containerName);
      this.containers.set(containerName, client);
    }
    return client;
  }

  /** Creates the table unless this process already did; safe to call on every operation. */
  ensureTable(tableName: string): Promise<void> {
    return this.once(`table:${tableName}`, () => this.tableClient(tableName).createTable());
  }

  ensureContainer(containerName: string): Promise<void> {
    return this.once(`container:${containerName}`, async () => {
      await this.containerClient(containerName).createIfNotExists();
    });
  }

  private once(key: string, create: () => Promise<void>): Promise<void> {
    let pending = this.ensured.get(key);
    if (!pending) {
      pending = create().catch((error: unknown) => {
        this.ensured.delete(key);
        throw error;
      });
      this.ensured.set(key, pending);
    }
    return pending;
  }
}

/**
 * http endpoints only come from local emulators (Azurite, `UseDevelopmentStorage=true`);
 * @azure/data-tables refuses them unless told otherwise.
 */
function usesHttp(connectionString: string): boolean {
  return (
    /usedevelopmentstorage=true/i.test(connectionString) ||
    /(^|;)\s*DefaultEndpointsProtocol\s*=\s*http\s*(;|$)/i.test(connectionString) ||
    /(^|;)\s*(Table|Blob)Endpoint\s*=\s*http:/i.test(connectionString)
  );
}

export function createTableClient(
  connection: StorageConnection,
  tableName: string,
  options: StorageClientsOptions = {},
): TableClient {
  const clientOptions: TableServiceClientOptions = {
    additionalPolicies: (options.tablePolicies ?? []).map((policy) => ({
      policy,
      position: 'perCall' as const,
    })),
  };
  if (connection.kind === 'connectionString') {
    if (usesHttp(connection.connectionString)) clientOptions.allowInsecureConnection = true;
    return fromConnectionString(connection, 'table', (value) =>
      TableClient.fromConnectionString(value, tableName, clientOptions),
    );
  }
  const credential = requireCredential(connection, options.credential);
  if (connection.tableServiceUri.startsWith('http:')) clientOptions.allowInsecureConnection = true;
  return new TableClient(connection.tableServiceUri, tableName, credential, clientOptions);
}

export function createBlobServiceClient(
  connection: StorageConnection,
  credential?: TokenCredential,
): BlobServiceClient {
  if (connection.kind === 'connectionString') {
    return fromConnectionString(connection, 'blob', (value) => BlobServiceClient.fromConnectionString(value));
  }
  return new BlobServiceClient(connection.blobServiceUri, requireCredential(connection, credential));
}

/**
 * A client built from a connection string. The SDK's own message may quote the connection string
 * (and its key): the error names the setting instead.
 */
export function fromConnectionString<T>(
  connection: Extract<StorageConnection, { kind: 'connectionString' }>,
  service: 'table' | 'blob' | 'queue',
  create: (connectionString: string) => T,
): T {
  try {
    return create(connection.connectionString);
  } catch {
    throw new StorageConfigurationError(
      `${connection.settingName} is not a usable ${service} storage connection string`,
    );
  }
}

/** The credential an identity-based connection cannot do without. */
export function requireCredential(
  connection: StorageConnection,
  credential: TokenCredential | undefined,
  needed = 'a TokenCredential is required',
): TokenCredential {
  if (!credential) {
    throw new StorageConfigurationError(`${connection.settingName} is identity-based: ${needed}`);
  }
  return credential;
}
