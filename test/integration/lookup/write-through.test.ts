import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { BatchStatusLookup, type WriteThroughFailure } from '../../../shared/lookup/batch-status-lookup.js';
import { PartnerCenterClient } from '../../../shared/partner-center/client.js';
import { TelemetryNames, TelemetryReporter } from '../../../shared/telemetry/reporter.js';
import { noopTelemetry, type Telemetry } from '../../../shared/telemetry/telemetry.js';
import { simulatorCredential, startTestSimulators } from '../../support/simulators.js';

let sims: RunningSimulators;
let client: PartnerCenterClient;

beforeAll(async () => {
  sims = await startTestSimulators();
  client = new PartnerCenterClient(sims.partnerCenter.url, simulatorCredential(sims.entra.url, sims.app));
});
afterAll(() => sims?.stop());

describe('a live lookup whose write-through fails', () => {
  it('still answers, and reports the failure with the lookup correlation id', async () => {
    const batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: 2,
      statuses: ['finished'],
    });
    const failures: WriteThroughFailure[] = [];
    const events: { name: string; properties?: Record<string, string | undefined> }[] = [];
    const telemetry: Telemetry = {
      ...noopTelemetry,
      trackEvent: (name, properties) => events.push({ name, properties }),
    };
    const reporter = new TelemetryReporter(telemetry);
    const storageDown = Object.assign(new Error('storage did not answer'), { name: 'RestError' });
    const lookup = new BatchStatusLookup({
      reader: client,
      writeThrough: { recordTerminal: () => Promise.reject(storageDown) },
      onWriteThroughFailure: (failure) => {
        failures.push(failure);
        reporter.writeThroughFailed(failure);
      },
    });
    const correlationId = crypto.randomUUID();
    // The invocation's log travels with the lookup to whoever reports the failure.
    const log = { info() {}, warn() {}, error() {} };

    const result = await lookup.lookup(batch.customerId, batch.trackingId, { correlationId, log });

    expect(result).toMatchObject({ source: 'live', terminal: true });
    expect(failures).toEqual([
      {
        key: { customerId: batch.customerId, trackingId: batch.trackingId },
        correlationId,
        log,
        error: storageDown,
      },
    ]);
    expect(failures[0]?.log).toBe(log);
    expect(events).toEqual([
      {
        name: TelemetryNames.events.writeThroughFailed,
        properties: {
          customerId: batch.customerId,
          trackingId: batch.trackingId,
          correlationId,
          error: 'RestError',
        },
      },
    ]);
  });
});
