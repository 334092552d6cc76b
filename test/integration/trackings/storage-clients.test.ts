import { TableClient } from '@azure/data-tables';
import { describe, expect, it, vi } from 'vitest';
import { createQueueService } from '../../../shared/notifications/queue-service.js';
import { StorageClients, StorageConfigurationError } from '../../../shared/storage/clients.js';
import { azuriteConnection, TableWireCounter, uniqueNames } from './storage-fixture.js';

describe('StorageClients', () => {
  it('creates a table once, however many first uses arrive together', async () => {
    const wire = new TableWireCounter();
    const clients = new StorageClients(azuriteConnection(), { tablePolicies: [wire.policy] });
    const table = `${uniqueNames().tablePrefix}Once`;

    await Promise.all(Array.from({ length: 10 }, () => clients.ensureTable(table)));
    await clients.ensureTable(table);
    await clients.tableClient(table).upsertEntity({ partitionKey: 'p', rowKey: 'r', n: 1 });

    expect(wire.requests.filter((r) => r.method === 'POST' && r.table === 'Tables')).toHaveLength(1);
    expect(await clients.tableClient(table).getEntity('p', 'r')).toMatchObject({ n: 1 });
    expect(clients.tableClient(table)).toBe(clients.tableClient(table));
  });

  it('creates a container once, and tolerates one that already exists', async () => {
    const clients = new StorageClients(azuriteConnection());
    const name = uniqueNames().resultContainer;
    const create = vi.spyOn(clients.containerClient(name), 'createIfNotExists');

    await Promise.all(Array.from({ length: 10 }, () => clients.ensureContainer(name)));
    await clients.ensureContainer(name);
    expect(create).toHaveBeenCalledTimes(1);
    expect(await clients.containerClient(name).exists()).toBe(true);

    const another = new StorageClients(azuriteConnection());
    await expect(another.ensureContainer(name)).resolves.toBeUndefined();
  });

  it('retries a create that failed on the next use', async () => {
    const clients = new StorageClients(azuriteConnection());
    const table = `${uniqueNames().tablePrefix}Retry`;
    const create = vi
      .spyOn(clients.tableClient(table), 'createTable')
      .mockRejectedValueOnce(new Error('network down'));

    await expect(clients.ensureTable(table)).rejects.toThrow('network down');
    await expect(clients.ensureTable(table)).resolves.toBeUndefined();
    expect(create).toHaveBeenCalledTimes(2);
  });

  it('understands UseDevelopmentStorage=true (Azurite default ports, http allowed)', () => {
    const clients = new StorageClients({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
      settingName: 'AzureWebJobsStorage',
    });
    expect(clients.tableClient('x').url).toBe('http://127.0.0.1:10002/devstoreaccount1');
    expect(clients.blobServiceClient().url).toMatch(/^http:\/\/127\.0\.0\.1:10000\/devstoreaccount1\/?$/);
  });

  it('uses service URIs and a token credential for identity-based connections', () => {
    const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) };
    const clients = new StorageClients(
      {
        kind: 'identity',
        tableServiceUri: 'https://acct.table.core.windows.net',
        blobServiceUri: 'https://acct.blob.core.windows.net',
        settingName: 'TRACKING_STORAGE',
      },
      { credential },
    );
    expect(clients.tableClient('Trackings')).toBeInstanceOf(TableClient);
    expect(clients.tableClient('Trackings').url).toBe('https://acct.table.core.windows.net');
    expect(clients.containerClient('results').url).toBe('https://acct.blob.core.windows.net/results');
  });

  it('names the setting, never the secret, when a connection cannot be used', () => {
    expect(
      () =>
        new StorageClients({
          kind: 'identity',
          tableServiceUri: 'https://acct.table.core.windows.net',
          blobServiceUri: 'https://acct.blob.core.windows.net',
          settingName: 'TRACKING_STORAGE',
        }),
    ).toThrow(StorageConfigurationError);
    const unusable = {
      kind: 'connectionString' as const,
      connectionString: 'AccountName=x;AccountKey=c2VjcmV0LWtleQ==;Nonsense',
      settingName: 'TRACKING_STORAGE',
    };
    const bad = new StorageClients(unusable);
    let message = '';
    try {
      bad.tableClient('x');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('TRACKING_STORAGE is not a usable table storage connection string');
    expect(message).not.toContain('c2VjcmV0LWtleQ');
    expect(() => bad.containerClient('x')).toThrow(
      new StorageConfigurationError('TRACKING_STORAGE is not a usable blob storage connection string'),
    );
    expect(() => createQueueService(unusable, {})).toThrow(
      new StorageConfigurationError('TRACKING_STORAGE is not a usable queue storage connection string'),
    );
    const identity = {
      kind: 'identity' as const,
      tableServiceUri: 'https://acct.table.core.windows.net',
      blobServiceUri: 'https://acct.blob.core.windows.net',
      settingName: 'TRACKING_STORAGE',
    };
    expect(() =>
      createQueueService(identity, { queueServiceUri: 'https://acct.queue.core.windows.net' }),
    ).toThrow(
      new StorageConfigurationError(
        'TRACKING_STORAGE is identity-based: notifications need TRACKING_STORAGE__queueServiceUri (or __accountName) and a TokenCredential',
      ),
    );
  });
});
