import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { importRecords } from '../../../bench/support/import-records.js';
import { AZURITE_KEY } from '../../../dev/azurite.js';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import {
  type IngestionSimulator,
  startIngestionSimulator,
  type TelemetryEnvelope,
} from '../../../dev/simulators/ingestion.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../../support/app-settings.js';
import { testTls } from '../../support/simulators.js';
import {
  hostTraceContext,
  invokeHttpTraced,
  invokeTimer,
  measurementsOf,
  metricValue,
  propertiesOf,
  recordConnections,
} from './telemetry-fixture.js';

// The real applicationinsights 3.x client, started by the app itself (its connection string is
// set), sending to a local HTTPS ingestion endpoint that requires an Entra token, as a resource
// with local authentication disabled does. Handlers run as the Functions host runs them, each
// with the host's trace context on its InvocationContext.

const guard = recordConnections();
let sims: RunningSimulators;
let ingestion: IngestionSimulator;
let handlers: {
  getBatchStatus: typeof import('../../../functions/getBatchStatus.js').getBatchStatus;
  registerTracking: typeof import('../../../functions/registerTracking.js').registerTracking;
  sweepPendingTrackings: typeof import('../../../functions/sweepPendingTrackings.js').sweepPendingTrackings;
};
let services: typeof import('../../../shared/composition.js').services;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers(trackingStorageSettings(uniqueStorageNames('tel')));
  ingestion = await startIngestionSimulator({ tls: testTls(), entra: sims.entra });
  Object.assign(process.env, {
    APPLICATIONINSIGHTS_CONNECTION_STRING: ingestion.connectionString,
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
    // A Retry-After above this is not waited out by the client: the caller gets the 503.
    PARTNER_CENTER_MAX_RETRY_AFTER_MS: '500',
    SWEEP_MAX_TRACKINGS_PER_RUN: '1',
  });
  handlers = {
    getBatchStatus: (await import('../../../functions/getBatchStatus.js')).getBatchStatus,
    registerTracking: (await import('../../../functions/registerTracking.js')).registerTracking,
    sweepPendingTrackings: (await import('../../../functions/sweepPendingTrackings.js'))
      .sweepPendingTrackings,
  };
  ({ services } = await import('../../../shared/composition.js'));
});

afterAll(async () => {
  guard.restore();
  await ingestion?.stop();
  await sims?.stop();
});

const of = (envelopes: TelemetryEnvelope[], operationId: string) =>
  envelopes.filter((e) => e.tags?.['ai.operation.id'] === operationId);
const dependencyData = (e: TelemetryEnvelope) => String(e.data?.baseData?.data ?? '');

describe('Application Insights telemetry of the app', () => {
  const registration = hostTraceContext();
  const lookupTrace = hostTraceContext();
  let lookupCorrelationId: string;
  let batch: { customerId: string; trackingId: string };

  // The registration and the app's first lookup (a cold credential: the vault is read, a token
  // requested) run once, before the checks, so that each check stands on its own.
  beforeAll(async () => {
    batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: [{ serialNumber: 'SN-1' }, { serialNumber: 'SN-2', errorCode: '808' }],
      statuses: ['finished'],
    });
    const registered = await invokeHttpTraced(
      handlers.registerTracking,
      { functionName: 'registerTracking', method: 'POST', url: '/api/trackings', body: batch },
      registration.traceParent,
    );
    expect(registered.response.status).toBe(201);

    const lookup = await invokeHttpTraced(
      handlers.getBatchStatus,
      {
        functionName: 'getBatchStatus',
        url: `/api/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`,
        params: batch,
      },
      lookupTrace.traceParent,
    );
    expect(lookup.response.status).toBe(200);
    lookupCorrelationId = lookup.correlationId!;
    await services().telemetry.flush();
  });

  it('a lookup: Key Vault, Entra ID, Partner Center and storage calls are dependencies of the invocation, with its correlation id', async () => {
    const dependencies = of(ingestion.dependencies(), lookupTrace.traceId);
    const data = dependencies.map(dependencyData);
    expect(data.some((d) => d.startsWith(`${sims.keyVault.url}/secrets/`))).toBe(true);
    expect(data.some((d) => d.startsWith(sims.entra.url) && d.includes('/oauth2/v2.0/token'))).toBe(true);
    expect(data).toContain(
      `${sims.partnerCenter.url}/v1/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`,
    );
    expect(dependencies.some((d) => String(d.data?.baseData?.type).includes('Microsoft.Storage'))).toBe(true);
    expect(dependencies.some((d) => String(d.data?.baseData?.type).includes('Microsoft.KeyVault'))).toBe(
      true,
    );
    // Parented on the host's span: the host's request telemetry and these are one operation.
    expect(dependencies.some((d) => d.tags?.['ai.operation.parentId'] === lookupTrace.parentSpanId)).toBe(
      true,
    );
    for (const dependency of dependencies) {
      expect(propertiesOf(dependency).correlationId, dependency.data?.baseData?.name as string).toBe(
        lookupCorrelationId,
      );
    }
    // Partner Center received the trace too, next to the MS-CorrelationId it always gets, and the
    // dependency names the MS-RequestId a support ticket would quote.
    const upstream = sims.partnerCenter.requests.find((r) => r.path.includes(batch.trackingId))!;
    expect(upstream.headers.traceparent).toContain(lookupTrace.traceId);
    const partnerCenterCall = dependencies.find((d) => dependencyData(d).startsWith(sims.partnerCenter.url))!;
    expect(propertiesOf(partnerCenterCall).requestId).toBe(upstream.headers['ms-requestid']);
    expect(partnerCenterCall.data?.baseData).toMatchObject({
      type: 'Http',
      resultCode: '200',
      success: true,
    });

    // Metrics are aggregates, not part of an operation: found by their correlation id dimension.
    const latency = ingestion
      .metrics('UpstreamLatencyMs')
      .filter((m) => propertiesOf(m).correlationId === lookupCorrelationId);
    expect(latency).toHaveLength(1);
    expect(propertiesOf(latency[0]!)).toMatchObject({
      status: '200',
      outcome: 'ok',
      correlationId: lookupCorrelationId,
    });
    expect(metricValue(latency[0]!, 'UpstreamLatencyMs')).toBeGreaterThanOrEqual(0);
  });

  it('registering and completing a tracking are events, with device counts and no device list', () => {
    const [registered] = of(ingestion.events('TrackingRegistered'), registration.traceId);
    expect(propertiesOf(registered!)).toMatchObject({
      customerId: batch.customerId,
      trackingId: batch.trackingId,
    });
    expect(propertiesOf(registered!).correlationId).toMatch(/^[0-9a-f-]{36}$/);

    // The lookup saw the terminal answer and wrote it through: that completed the tracking.
    const completed = of(ingestion.events('TrackingCompleted'), lookupTrace.traceId);
    expect(completed).toHaveLength(1);
    expect(propertiesOf(completed[0]!)).toMatchObject({
      correlationId: lookupCorrelationId,
      trackingId: batch.trackingId,
      finalState: 'finished',
      errorCodes: '{"808":1}',
    });
    expect(measurementsOf(completed[0]!)).toMatchObject({ devices: 2, failedDevices: 1, checks: 0 });
    expect(measurementsOf(completed[0]!).secondsToComplete).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(completed)).not.toContain('SN-2');
  });

  it('a throttled lookup counts in UpstreamThrottled and as a RequestFailed with its problem type', async () => {
    const throttled = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), devices: 1 });
    // Retry-After: 1, not 30: every sweep of this process honours it too (the shared budget), and
    // the sweep test below must not wait out a pause this test caused.
    sims.partnerCenter.inject(
      { kind: 'throttle', retryAfterSeconds: 1 },
      { times: 1, trackingId: throttled.trackingId },
    );
    const trace = hostTraceContext();
    const lookup = await invokeHttpTraced(
      handlers.getBatchStatus,
      {
        functionName: 'getBatchStatus',
        url: `/api/customers/${throttled.customerId}/batchJobStatus/${throttled.trackingId}`,
        params: { customerId: throttled.customerId, trackingId: throttled.trackingId },
      },
      trace.traceParent,
    );
    expect(lookup.response.status).toBe(503);
    await services().telemetry.flush();

    const count = ingestion
      .metrics('UpstreamThrottled')
      .filter((m) => propertiesOf(m).correlationId === lookup.correlationId);
    expect(count.map((m) => metricValue(m, 'UpstreamThrottled'))).toEqual([1]);
    const [failed] = of(ingestion.events('RequestFailed'), trace.traceId);
    expect(propertiesOf(failed!)).toMatchObject({
      functionName: 'getBatchStatus',
      status: '503',
      problemType: '/problems/upstream-throttled',
      upstreamStatus: '429',
      correlationId: lookup.correlationId,
    });
    const upstream = of(ingestion.dependencies(), trace.traceId).filter((d) =>
      dependencyData(d).startsWith(sims.partnerCenter.url),
    );
    expect(upstream.map((d) => d.data?.baseData?.resultCode)).toEqual(['429']);
  });

  it('a sweep run sends SweepCompleted, its backlog and the trackings it completed before it returns', async () => {
    const now = Date.now();
    const done = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: [{}, {}, { errorCode: '806' }],
      finalStatus: 'finished_with_errors',
      statuses: ['finished_with_errors'],
    });
    const waiting = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: 1,
      statuses: ['processing'],
    });
    const pending = (b: { customerId: string; trackingId: string }, registeredAgo: number, dueAgo: number) =>
      ({
        customerId: b.customerId,
        trackingId: b.trackingId,
        state: 'pending',
        registeredAt: new Date(now - registeredAgo).toISOString(),
        nextCheckAt: new Date(now - dueAgo).toISOString(),
        checks: 0,
      }) satisfies TrackingRecord;
    // Due 10 and 5 minutes ago; the run may claim one (SWEEP_MAX_TRACKINGS_PER_RUN=1): the oldest.
    // The test's own writes, as an invocation of their own, so that every item has a correlation id.
    const setup = { correlationId: crypto.randomUUID(), functionName: 'testSetup' };
    await services().telemetry.runInvocation(setup, () =>
      importRecords(services().trackingRecords.tables, [
        pending(done, 20 * 60_000, 10 * 60_000),
        pending(waiting, 6 * 60_000, 5 * 60_000),
      ]),
    );

    const trace = hostTraceContext();
    const logs = await invokeTimer(
      handlers.sweepPendingTrackings,
      'sweepPendingTrackings',
      trace.traceParent,
    );
    // No flush here: the function flushed before it returned, or this fails.
    const correlationId = /correlationId=([0-9a-f-]{36})/.exec(logs.at(-1)!.message)![1]!;
    expect(logs.every((l) => l.message.includes(`correlationId=${correlationId}`))).toBe(true);

    const [sweep] = of(ingestion.events('SweepCompleted'), trace.traceId);
    expect(propertiesOf(sweep!)).toMatchObject({ correlationId, stoppedEarly: 'true' });
    expect(measurementsOf(sweep!)).toMatchObject({
      claimed: 1,
      finished: 1,
      pending: 0,
      errors: 0,
      throttled: 0,
      dueBacklog: 1,
    });
    expect(measurementsOf(sweep!).durationMs).toBeGreaterThanOrEqual(0);

    const [completed] = of(ingestion.events('TrackingCompleted'), trace.traceId);
    expect(propertiesOf(completed!)).toMatchObject({
      correlationId,
      trackingId: done.trackingId,
      finalState: 'finished_with_errors',
      errorCodes: '{"806":1}',
    });
    expect(measurementsOf(completed!)).toMatchObject({ devices: 3, failedDevices: 1, checks: 1 });
    expect(measurementsOf(completed!).secondsToComplete).toBeGreaterThanOrEqual(20 * 60 - 5);

    const backlog = ingestion
      .metrics('DueBacklog')
      .filter((m) => propertiesOf(m).correlationId === correlationId);
    expect(backlog.map((m) => metricValue(m, 'DueBacklog'))).toEqual([1]);
    const age = ingestion
      .metrics('OldestPendingAgeSeconds')
      .filter((m) => propertiesOf(m).correlationId === correlationId);
    expect(metricValue(age[0]!, 'OldestPendingAgeSeconds')).toBeGreaterThanOrEqual(5 * 60 - 5);

    const dependencies = of(ingestion.dependencies(), trace.traceId);
    expect(dependencies.some((d) => dependencyData(d).includes(`/batchJobStatus/${done.trackingId}`))).toBe(
      true,
    );
    expect(dependencies.some((d) => String(d.data?.baseData?.type).includes('Microsoft.Storage'))).toBe(true);
    expect(dependencies.every((d) => propertiesOf(d).correlationId === correlationId)).toBe(true);
  });

  it('sends no secret, token or connection string, and nothing leaves the machine', async () => {
    await services().telemetry.flush();
    const { token: partnerCenterToken } = (await services().appCredential.getToken(
      services().settings.partnerCenter.scope,
    ))!;
    const sent = ingestion.rawBodies.join('\n');
    expect(sent.length).toBeGreaterThan(0);
    for (const canary of [
      sims.app.clientSecret, // the vault secret's value
      sims.developer.clientSecret,
      partnerCenterToken,
      partnerCenterToken.split('.')[2]!,
      AZURITE_KEY,
      inject('azuriteConnectionString'),
      ingestion.connectionString,
    ]) {
      expect(sent.includes(canary), `a canary of ${canary.length} characters was sent`).toBe(false);
    }

    // Every item the app reports carries its correlation id (the SDK's resource metric aside).
    const items = ingestion.envelopes.filter((e) => metricValue(e, '_OTELRESOURCE_') === undefined);
    const missing = items
      .filter((e) => !propertiesOf(e).correlationId)
      .map((e) => e.data?.baseData?.name ?? e.name);
    expect(missing).toEqual([]);

    // Every batch went with an Entra token for Azure Monitor; no live metrics, no other endpoint.
    expect(ingestion.requests.length).toBeGreaterThan(0);
    expect(
      ingestion.requests.every((r) => r.status === 200 && r.tokenAudience === 'https://monitor.azure.com'),
    ).toBe(true);
    expect(ingestion.unexpectedRequests).toEqual([]);
    expect(guard.destinations.length).toBeGreaterThan(0);
    expect(guard.nonLoopback()).toEqual([]);
    // The real SDK did this (telemetry-off.test.ts proves the opposite without a connection string).
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((file) => /node_modules[\\/]applicationinsights[\\/]/.test(file))).toBe(true);
  });
});
