import type { TokenCredential } from '@azure/core-auth';
import { QueueServiceClient } from '@azure/storage-queue';
import type { StorageConnection } from '../config/settings.js';
import { StorageConfigurationError } from '../storage/clients.js';

/** The queue service of the tracking storage connection (the one the queue trigger listens on). */
export function createQueueService(
  connection: StorageConnection,
  options: { queueServiceUri?: string; credential?: TokenCredential },
): QueueServiceClient {
  if (connection.kind === 'connectionString') {
    try {
      return QueueServiceClient.fromConnectionString(connection.connectionString);
    } catch {
      // The SDK's message may quote the connection string (and its key): say which setting instead.
      throw new StorageConfigurationError(
        `${connection.settingName} is not a usable queue storage connection string`,
      );
    }
  }
  if (!options.queueServiceUri || !options.credential) {
    throw new StorageConfigurationError(
      `${connection.settingName} is identity-based: notifications need ${connection.settingName}__queueServiceUri (or __accountName) and a TokenCredential`,
    );
  }
  return new QueueServiceClient(options.queueServiceUri, options.credential);
}
