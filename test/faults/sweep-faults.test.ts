import { InvocationContext } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PartnerCenterFault, RunningSimulators } from '../../dev/simulators/index.js';
import type { AppServices } from '../../shared/composition.js';
import { correlatedLog } from '../../shared/telemetry/invocation-log.js';
import { Sweeper, type SweepReport } from '../../shared/trackings/sweep.js';
import {
  startSimulatorsForHandlers,
  trackingStorageSettings,
  uniqueStorageNames,
} from '../support/app-settings.js';
import { type BatchKey, type HttpInvocation, invokeGetTracking, invokeRegister } from '../support/invoke.js';

// The upstream fault matrix as the sweep meets it: the app's own clients (composition root) against
// the simulators and Azurite, the sweep on a test clock so that backoffs pass without sleeping.
// Every tracking must end in its right final state, exactly once.
const SECOND = 1_000;

let sims: RunningSimulators;
let app: AppServices;
let registerTracking: typeof import('../../functions/registerTracking.js').registerTracking;
let getTracking: typeof import('../../functions/getTracking.js').getTracking;
const names = uniqueStorageNames('sf');

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({
    ...trackingStorageSettings(names),
    // Short enough for the latency fault to time out, long enough that no healthy answer does on a
    // loaded machine (a timed-out attempt is retried, and its answer would count twice below).
    PARTNER_CENTER_DEADLINE_MS: '5000',
    PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: '2500',
    PARTNER_CENTER_MAX_RETRIES: '1',
    PARTNER_CENTER_MAX_RESPONSE_BYTES: String(1024 * 1024),
    SWEEP_CONCURRENCY: '4',
    SWEEP_LEASE_SECONDS: '60',
    SWEEP_INITIAL_BACKOFF_SECONDS: '1',
    SWEEP_MAX_BACKOFF_SECONDS: '8',
    TRACKING_MAX_AGE_HOURS: '1',
    TRACKING_NOT_FOUND_GRACE_MINUTES: '1',
  });
  ({ registerTracking } = await import('../../functions/registerTracking.js'));
  ({ getTracking } = await import('../../functions/getTracking.js'));
  app = (await import('../../shared/composition.js')).services();
});

afterAll(async () => {
  await sims?.stop();
});

/** Test time for the sweep; a throttling pause jumps it forward instead of waiting. */
class TestClock {
  ms = Date.now();
  readonly now = () => new Date(this.ms);
  readonly sleep = async (ms: number) => {
    this.ms += ms;
  };
  advance(ms: number): void {
    this.ms += ms;
  }
}

interface Scenario {
  name: string;
  /** Batch statuses upstream, one per answered call; omitted: no such batch (404). */
  statuses?: string[];
  fault?: PartnerCenterFault;
  times?: number;
  /** `lastError` the tracking shows after the first sweep. */
  firstError?: { failure: string; status?: number };
  final: 'finished' | 'finished_with_errors' | 'not_found' | 'expired';
}

const SCENARIOS: Scenario[] = [
  { name: 'healthy', statuses: ['queued', 'processing', 'finished'], final: 'finished' },
  {
    name: 'healthy with errors',
    statuses: ['processing', 'finished_with_errors'],
    final: 'finished_with_errors',
  },
  {
    name: '429 on three attempts',
    statuses: ['finished'],
    fault: { kind: 'throttle', retryAfterSeconds: 2 },
    times: 3,
    firstError: { failure: 'throttled', status: 429 },
    final: 'finished',
  },
  ...[500, 502, 503, 504].map(
    (status): Scenario => ({
      name: `${status}`,
      statuses: ['processing', 'finished'],
      fault: { kind: 'status', status },
      times: 2,
      firstError: { failure: 'http', status },
      final: 'finished',
    }),
  ),
  {
    name: 'slower than the deadline',
    statuses: ['finished'],
    fault: { kind: 'latency', ms: 8_000 },
    times: 2,
    firstError: { failure: 'timeout' },
    final: 'finished',
  },
  {
    name: 'connection reset',
    statuses: ['finished'],
    fault: { kind: 'reset' },
    times: 2,
    firstError: { failure: 'network' },
    final: 'finished',
  },
  {
    name: 'truncated JSON',
    statuses: ['finished_with_errors'],
    fault: { kind: 'malformed' },
    times: 1,
    firstError: { failure: 'invalid_response', status: 200 },
    final: 'finished_with_errors',
  },
  {
    name: 'unexpected shape',
    statuses: ['finished'],
    fault: { kind: 'unexpected-shape' },
    times: 1,
    firstError: { failure: 'invalid_response', status: 200 },
    final: 'finished',
  },
  {
    name: 'body over PARTNER_CENTER_MAX_RESPONSE_BYTES',
    statuses: ['finished'],
    fault: { kind: 'huge', bytes: 2 * 1024 * 1024, chunked: true },
    times: 1,
    firstError: { failure: 'invalid_response' },
    final: 'finished',
  },
  {
    name: '401 (credential re-read, still refused)',
    statuses: ['finished'],
    fault: { kind: 'status', status: 401 },
    times: 2,
    firstError: { failure: 'http', status: 401 },
    final: 'finished',
  },
  {
    name: 'unknown batch (404 until the grace period ends)',
    firstError: { failure: 'http', status: 404 },
    final: 'not_found',
  },
  { name: 'never finishes', statuses: ['processing'], final: 'expired' },
];

interface Tracked extends Scenario {
  customerId: string;
  trackingId: string;
}

async function getRecord(t: BatchKey): Promise<HttpInvocation> {
  return invokeGetTracking(getTracking, t);
}

function sweeper(clock: TestClock, logs: string[]): Sweeper {
  const context = new InvocationContext({
    functionName: 'sweepPendingTrackings',
    logHandler: (_level, ...args) =>
      logs.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')),
  });
  return new Sweeper({
    scheduler: app.sweepScheduler,
    results: app.resultStore,
    reader: app.partnerCenter,
    settings: app.settings.sweep,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    log: correlatedLog(context, 'sweep-faults'),
  });
}

describe('the sweep under upstream faults', () => {
  it('every tracking reaches its right final state exactly once, whatever Partner Center does', async () => {
    const customerId = crypto.randomUUID();
    const tracked: Tracked[] = [];
    for (const scenario of SCENARIOS) {
      const trackingId = crypto.randomUUID();
      if (scenario.statuses) {
        sims.partnerCenter.createBatch({
          customerId,
          trackingId,
          devices: 4,
          statuses: scenario.statuses,
          advanceEveryCalls: 1,
        });
      }
      if (scenario.fault) sims.partnerCenter.inject(scenario.fault, { trackingId, times: scenario.times });
      const res = await invokeRegister(registerTracking, { customerId, trackingId, label: scenario.name });
      expect(res.status).toBe(201);
      tracked.push({ ...scenario, customerId, trackingId });
    }

    const clock = new TestClock();
    const logs: string[] = [];
    const reports: SweepReport[] = [];

    // First sweep: every fault lands once. The run completes; each failure is on its tracking.
    reports.push(await sweeper(clock, logs).run({ correlationId: crypto.randomUUID() }));
    expect(reports[0]!.claimed).toBe(tracked.length);
    for (const t of tracked.filter((t) => t.firstError)) {
      const res = await getRecord(t);
      expect(res.status, t.name).toBe(200);
      expect(res.json, t.name).toMatchObject({ state: 'pending', checks: 1, lastError: t.firstError });
    }

    // Sweep until nothing is due; backoffs (1-8 s) pass on the test clock.
    for (let round = 0; round < 20; round++) {
      clock.advance(10 * SECOND);
      reports.push(await sweeper(clock, logs).run());
      const states = await Promise.all(
        tracked.map(async (t) => ((await getRecord(t)).json as { state: string }).state),
      );
      if (
        states.every(
          (s, i) => s === tracked[i]!.final || (tracked[i]!.final === 'expired' && s === 'pending'),
        )
      )
        break;
    }
    // The one that never finishes expires once it is older than TRACKING_MAX_AGE_HOURS.
    clock.advance(61 * 60 * SECOND);
    reports.push(await sweeper(clock, logs).run());

    for (const t of tracked) {
      const record = (await getRecord(t)).json as Record<string, unknown>;
      expect(record.state, t.name).toBe(t.final);
      expect(record, t.name).not.toHaveProperty('nextCheckAt');
      if (t.final.startsWith('finished')) {
        expect(record, t.name).toMatchObject({ upstreamStatus: t.final, summary: { devices: 4 } });
        expect(record, t.name).not.toHaveProperty('lastError');
      }
    }

    // Exactly once: one stored result per finished tracking, none for the others...
    const blobs: string[] = [];
    const container = BlobServiceClient.fromConnectionString(
      inject('azuriteConnectionString'),
    ).getContainerClient(names.container);
    for await (const blob of container.listBlobsFlat()) blobs.push(blob.name);
    expect(blobs.sort()).toEqual(
      tracked
        .filter((t) => t.final.startsWith('finished'))
        .map((t) => `${t.customerId}/${t.trackingId}.json`)
        .sort(),
    );
    // ...and Partner Center answered each batch's statuses once each: never asked again after the terminal answer
    // (latency faults excepted: the simulator answers those after the client gave up, so they count as calls).
    for (const t of tracked.filter(
      (t) => t.statuses && t.fault?.kind !== 'latency' && t.final !== 'expired',
    )) {
      const answered = sims.partnerCenter.requests.filter(
        (r) => r.trackingId === t.trackingId && r.status === 200 && r.fault === undefined,
      ).length;
      expect(answered, t.name).toBe(t.statuses!.length);
    }
    const before = sims.partnerCenter.counters.total;
    for (let i = 0; i < 3; i++) {
      clock.advance(2 * 60 * 60 * SECOND);
      const report = await sweeper(clock, logs).run();
      expect(report.claimed).toBe(0);
    }
    expect(sims.partnerCenter.counters.total).toBe(before);

    // No run ever stopped on a bad tracking or failed as a whole; failures were counted, not thrown.
    expect(reports.reduce((sum, r) => sum + r.errors, 0)).toBeGreaterThanOrEqual(8);
    expect(reports.reduce((sum, r) => sum + r.throttled, 0)).toBe(3);
    expect(logs.join('\n')).not.toMatch(/\n\s+at /);
  });
});
