import type { TokenCredential } from '@azure/core-auth';
import { QueueServiceClient } from '@azure/storage-queue';
import type { StorageConnection } from '../config/settings.js';
import { fromConnectionString, requireCredential, StorageConfigurationError } from '../storage/clients.js';

/** The queue service of the tracking storage connection (the one the queue trigger listens on). */
export function createQueueService(
  connection: StorageConnection,
  options: { queueServiceUri?: string; credential?: TokenCredential },
): QueueServiceClient {
  if (connection.kind === 'connectionString') {
    return fromConnectionString(connection, 'queue', (value) =>
      QueueServiceClient.fromConnectionString(value),
    );
  }
  const needed = `notifications need ${connection.settingName}__queueServiceUri (or __accountName) and a TokenCredential`;
  const credential = requireCredential(connection, options.credential, needed);
  if (!options.queueServiceUri) {
    throw new StorageConfigurationError(`${connection.settingName} is identity-based: ${needed}`);
  }
  return new QueueServiceClient(options.queueServiceUri, credential);
}
