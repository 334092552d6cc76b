import { expect, it } from 'vitest';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  SIMULATOR_DEFAULTS,
} from '../../dev/simulators/index.js';
import type { TestApp } from '../support/local-app.js';

/** One JSON call to the app: `path` under `api`, or an absolute URL. */
export async function callApi(api: string, method: string, path: string, body?: unknown) {
  const res = await fetch(path.startsWith('http') ? path : `${api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

/**
 * The lookups and the tracking round trip of the end-to-end test, run the same way in both
 * credential modes (`app`: local-app.test.ts, `app_user`: local-app-user.test.ts).
 */
export function lookupScenarios(context: () => { app: TestApp; mode: 'app' | 'app_user' }): void {
  const call = (method: string, path: string, body?: unknown) =>
    callApi(context().app.api, method, path, body);

  it("answers the docs' example through Key Vault, Entra ID and Partner Center, path case-insensitive", async () => {
    const { app, mode } = context();
    const { sims } = app;
    sims.partnerCenter.reset();
    const res = await call(
      'GET',
      `/customers/${DOCS_EXAMPLE_CUSTOMER_ID}/batchjobstatus/${DOCS_EXAMPLE_TRACKING_ID}`,
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ batchTrackingId: DOCS_EXAMPLE_TRACKING_ID, status: 'finished' });
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect(sims.keyVault.counters.secretReads).toBeGreaterThanOrEqual(1);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBeGreaterThanOrEqual(1);
    // The mode shows at the simulators: client-credentials tokens, or refresh-token exchanges whose
    // rotated tokens went back to the vault (Partner Center then accepts user tokens only).
    const exchanges = sims.entra.users.counters.refreshExchanges;
    const rotationsWritten = sims.keyVault.listVersions(SIMULATOR_DEFAULTS.refreshTokenSecretName).length - 1;
    if (mode === 'app_user') {
      expect(exchanges).toBeGreaterThanOrEqual(1);
      expect(rotationsWritten).toBe(exchanges);
    } else {
      expect(exchanges).toBe(0);
    }
  });

  it('registers a tracking, sweeps it to its outcome, and then serves the lookup from storage', async () => {
    const { sims, local } = context().app;
    const batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: [
        { serialNumber: 'SN-OK-1' },
        { serialNumber: 'SN-OK-2' },
        { serialNumber: 'SN-808', errorCode: '808' },
      ],
      finalStatus: 'finished_with_errors',
      advanceEveryCalls: 0,
    });

    const registered = await call('POST', '/trackings', {
      location: batch.location.toUpperCase(),
      label: 'e2e',
    });
    expect(registered.status).toBe(201);
    expect(registered.headers.get('Location')).toBe(`/api/trackings/${batch.customerId}/${batch.trackingId}`);
    expect(registered.json).toMatchObject({ state: 'pending', checks: 0, label: 'e2e' });
    expect(
      (await call('POST', '/trackings', { customerId: batch.customerId, trackingId: batch.trackingId }))
        .status,
    ).toBe(200);

    // The host runs the timer function exactly as on its schedule and tells when it finished.
    const outcome = await local.host.invoke('sweepPendingTrackings');
    expect(outcome.status).toBe('succeeded');

    const record = (await call('GET', `/trackings/${batch.customerId}/${batch.trackingId}`)).json!;
    expect(record).toMatchObject({
      state: 'finished_with_errors',
      upstreamStatus: 'finished_with_errors',
      checks: 1,
      summary: {
        devices: 3,
        byStatus: { finished: 2, finished_with_errors: 1 },
        errors: [{ code: '808', name: 'ZtdDeviceAssignedToOtherTenant', count: 1 }],
      },
    });
    const remedy = (record.summary as { errors: Array<{ remedy: string }> }).errors[0]!.remedy;
    expect(remedy).toMatch(/deregister/i);

    const withDevices = await call(
      'GET',
      `/trackings/${batch.customerId}/${batch.trackingId}?include=devices`,
    );
    expect((withDevices.json as { devicesStatus: unknown[] }).devicesStatus).toHaveLength(3);

    sims.partnerCenter.reset();
    const lookup = await call('GET', `/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`);
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get('X-Result-Source')).toMatch(/storage|memory/);
    expect(lookup.json).toMatchObject({ status: 'finished_with_errors' });
    expect(sims.partnerCenter.counters.total).toBe(0);
  });
}
