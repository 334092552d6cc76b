import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAzurite, startAzurite } from '../../../dev/azurite.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { StorageClients } from '../../../shared/storage/clients.js';
import { ResultStore } from '../../../shared/trackings/result-store.js';
import { simulatorCredential, startTestSimulators, testTls } from '../../support/simulators.js';
import { uniqueNames } from './storage-fixture.js';

// Identity-based storage over the wire: an Azurite of its own that serves HTTPS and accepts Entra
// ID bearer tokens (`--oauth basic`: issuer, audience and lifetime are checked, as Azure Storage
// does; not the signature), and a real ClientSecretCredential against the Entra simulator. The
// app's StorageClients then reach tables and blobs with tokens only, no account key.
let azurite: RunningAzurite;
let sims: RunningSimulators;

beforeAll(async () => {
  [azurite, sims] = await Promise.all([
    startAzurite({ tls: testTls(), oauth: 'basic' }),
    startTestSimulators(),
  ]);
});

afterAll(async () => {
  await Promise.all([azurite?.stop(), sims?.stop()]);
});

function identityClients(
  credential: TokenCredential = simulatorCredential(sims.entra.url, sims.app),
): StorageClients {
  return new StorageClients(
    {
      kind: 'identity',
      tableServiceUri: azurite.tableEndpoint,
      blobServiceUri: azurite.blobEndpoint,
      settingName: 'AzureWebJobsStorage',
    },
    { credential },
  );
}

describe('StorageClients with an identity-based connection', () => {
  it('writes and reads tables and blobs with Entra ID tokens for storage, over HTTPS', async () => {
    const clients = identityClients();
    const names = uniqueNames();
    const table = `${names.tablePrefix}Identity`;
    await clients.ensureTable(table);
    await clients.tableClient(table).upsertEntity({ partitionKey: 'p', rowKey: 'r', n: 1 });
    expect(await clients.tableClient(table).getEntity('p', 'r')).toMatchObject({ n: 1 });

    const results = ResultStore.fromClients(clients, names.resultContainer);
    const key = { customerId: crypto.randomUUID(), trackingId: crypto.randomUUID() };
    const details = { batchTrackingId: key.trackingId, status: 'finished', devicesStatus: [] };
    await results.put(key, details as never);
    expect(await results.get(key)).toMatchObject({ batchTrackingId: key.trackingId, status: 'finished' });

    // The tokens came from the Entra simulator, for Azure Storage.
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId.toLowerCase()]).toBeGreaterThan(0);
  });

  it('is refused by storage with a token for another audience (so the tokens above were checked)', async () => {
    const real = simulatorCredential(sims.entra.url, sims.app);
    const wrongAudience = {
      getToken: () => real.getToken('https://api.partnercenter.microsoft.com/.default'),
    };
    const clients = identityClients(wrongAudience);
    const statusOf = (promise: Promise<unknown>) =>
      promise.then(
        () => 'accepted',
        (error: { statusCode?: number }) => error.statusCode,
      );
    expect(await statusOf(clients.ensureTable(`${uniqueNames().tablePrefix}Refused`))).toBe(403);
    expect(
      await statusOf(clients.blobServiceClient().getContainerClient(uniqueNames().resultContainer).exists()),
    ).toBe(403);
  });
});
