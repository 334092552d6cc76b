import type { Environment, StorageConnection } from './settings.js';

/** Functions-style connection: a connection string, or `NAME__accountName` / `NAME__tableServiceUri` + `NAME__blobServiceUri`. */
export function readStorageConnection(env: Environment, problems: string[]): StorageConnection | undefined {
  for (const name of ['TRACKING_STORAGE', 'AzureWebJobsStorage']) {
    const connectionString = env[name]?.trim();
    if (connectionString) {
      if (
        connectionString !== 'UseDevelopmentStorage=true' &&
        !/AccountName=|BlobEndpoint=|TableEndpoint=/i.test(connectionString)
      ) {
        problems.push(
          `${name} must be a storage connection string (AccountName=…;AccountKey=… or endpoints)`,
        );
        return undefined;
      }
      return { kind: 'connectionString', connectionString, settingName: name };
    }
    const accountName = env[`${name}__accountName`]?.trim();
    const tableServiceUri = env[`${name}__tableServiceUri`]?.trim();
    const blobServiceUri = env[`${name}__blobServiceUri`]?.trim();
    const managedIdentityClientId = env[`${name}__clientId`]?.trim() || undefined;
    if (accountName) {
      if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
        problems.push(
          `${name}__accountName must be a storage account name (3-24 lower-case letters and digits)`,
        );
        return undefined;
      }
      return {
        kind: 'identity',
        tableServiceUri: `https://${accountName}.table.core.windows.net`,
        blobServiceUri: `https://${accountName}.blob.core.windows.net`,
        managedIdentityClientId,
        settingName: name,
      };
    }
    if (tableServiceUri || blobServiceUri) {
      if (!tableServiceUri || !blobServiceUri) {
        problems.push(`${name}__tableServiceUri and ${name}__blobServiceUri must be set together`);
        return undefined;
      }
      return {
        kind: 'identity',
        tableServiceUri,
        blobServiceUri,
        managedIdentityClientId,
        settingName: name,
      };
    }
  }
  return undefined;
}
