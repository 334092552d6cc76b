import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../../support/app-settings.js';
import { invokeHttp } from '../../support/invoke.js';

// A process of its own: nothing may be cached before the burst below.
let sims: RunningSimulators;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers();
});

afterAll(async () => {
  await sims?.stop();
});

describe('a cold instance under a burst', () => {
  it('serves 100 concurrent cold lookups with exactly one vault read and one Partner Center token request', async () => {
    const batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: 2,
      statuses: ['processing'],
    });
    const { getBatchStatus } = await import('../../../functions/getBatchStatus.js');

    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        invokeHttp(getBatchStatus, {
          url: `/api/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`,
          params: { customerId: batch.customerId, trackingId: batch.trackingId },
        }),
      ),
    );

    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(sims.keyVault.counters.secretReads).toBe(1);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(1);
    expect(sims.partnerCenter.counters.total).toBe(100);
  });
});
