import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { loadSettings, SettingsError } from '../../../shared/config/settings.js';
import { startSimulatorsForHandlers } from '../../support/app-settings.js';
import { invokeHttp } from '../../support/invoke.js';

// A process of its own, without APPLICATIONINSIGHTS_CONNECTION_STRING: the app must not load the
// SDK at all (it costs ~0.3-0.7 s of cold start) and must work exactly as before.
let sims: RunningSimulators;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers();
  delete process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
});

afterAll(async () => {
  await sims?.stop();
});

const loadedModules = () => Object.keys(createRequire(import.meta.url).cache);

describe('telemetry when Application Insights is not configured', () => {
  it('serves a lookup without ever loading applicationinsights or OpenTelemetry', async () => {
    const batch = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), devices: 1 });
    const { getBatchStatus } = await import('../../../functions/getBatchStatus.js');
    const { services } = await import('../../../shared/composition.js');
    const res = await invokeHttp(getBatchStatus, {
      url: `/api/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`,
      params: { customerId: batch.customerId, trackingId: batch.trackingId },
    });
    expect(res.status).toBe(200);
    expect(services().telemetry.enabled).toBe(false);
    await services().telemetry.flush();

    const sdk = loadedModules().filter((file) =>
      /node_modules[\\/](applicationinsights|@azure[\\/]monitor-opentelemetry|@opentelemetry[\\/]sdk-)/.test(
        file,
      ),
    );
    expect(sdk).toEqual([]);
    // The check can fail: the module cache does list CommonJS packages the app loads.
    expect(loadedModules().some((file) => /node_modules[\\/]@azure[\\/]functions[\\/]/.test(file))).toBe(
      true,
    );
  });
});

describe('APPLICATIONINSIGHTS_AUTHENTICATION_STRING', () => {
  const base = {
    APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
  };

  it('reads Authorization=AAD, with or without a managed identity client id, in any order and case', () => {
    expect(
      loadSettings({ ...base, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD' }).telemetry,
    ).toMatchObject({ entraAuthentication: {} });
    const clientId = crypto.randomUUID();
    expect(
      loadSettings({
        ...base,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${clientId};authorization=aad`,
      }).telemetry.entraAuthentication,
    ).toEqual({ clientId });
    expect(loadSettings(base).telemetry.entraAuthentication).toBeUndefined();
  });

  it('refuses anything else with a message naming the setting', () => {
    for (const value of ['Authorization=Key', 'ClientId=not-a-guid;Authorization=AAD', 'AAD']) {
      const attempt = () => loadSettings({ ...base, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: value });
      expect(attempt).toThrow(SettingsError);
      expect(attempt).toThrow(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'Authorization=AAD'/);
    }
  });
});
