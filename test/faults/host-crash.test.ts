import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { trackingTableNames } from '../../shared/trackings/tracking-entities.js';
import { type AppProcess, startAppProcess, sweepFinished, triggerSweep } from '../support/app-process.js';
import { trackingStorageSettings, uniqueStorageNames } from '../support/app-settings.js';
import { startTestSimulators } from '../support/simulators.js';
import { waitFor } from '../support/wait.js';

// The function app as `npm run serve` runs it, in child processes: killed with SIGKILL in the
// middle of a sweep and started again, and two of them sweeping the same storage at once.
const names = uniqueStorageNames('hc');
let sims: RunningSimulators;
let env: Record<string, string>;
const hosts: AppProcess[] = [];

beforeAll(async () => {
  sims = await startTestSimulators();
  env = {
    ...sims.env,
    ...trackingStorageSettings(names),
    // Sweeps run only when the test asks (admin endpoint), never on the schedule.
    SWEEP_SCHEDULE: '0 0 0 1 1 *',
    SWEEP_CONCURRENCY: '2',
    // A killed sweep's claims are due again after a second; rescheduled checks after at most one.
    SWEEP_LEASE_SECONDS: '1',
    SWEEP_INITIAL_BACKOFF_SECONDS: '1',
    SWEEP_MAX_BACKOFF_SECONDS: '1',
    PARTNER_CENTER_DEADLINE_MS: '10000',
    PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: '5000',
    LOCAL_FUNCTION_KEY: '',
  };
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.kill('SIGKILL')));
});

afterAll(async () => {
  await sims?.stop();
});

async function startHost(overrides: Record<string, string> = {}): Promise<AppProcess> {
  const host = await startAppProcess({ ...env, ...overrides });
  hosts.push(host);
  return host;
}

async function call(host: AppProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`${host.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

function claimedIn(summary: string): number {
  return Number(/claimed=(\d+)/.exec(summary)?.[1]);
}

async function states(host: AppProcess, keys: { customerId: string; trackingId: string }[]) {
  return Promise.all(
    keys.map(
      async (k) =>
        (await call(host, 'GET', `/api/trackings/${k.customerId}/${k.trackingId}`)).json as Record<
          string,
          unknown
        >,
    ),
  );
}

async function storedResults(): Promise<string[]> {
  const container = BlobServiceClient.fromConnectionString(
    inject('azuriteConnectionString'),
  ).getContainerClient(names.container);
  const blobs: string[] = [];
  for await (const blob of container.listBlobsFlat()) blobs.push(blob.name);
  return blobs;
}

/** The due index's entries of one customer (the table is the file's; tests use customers of their own). */
async function dueEntries(customerId: string): Promise<unknown[]> {
  const due = TableClient.fromConnectionString(
    inject('azuriteConnectionString'),
    trackingTableNames(names.tablePrefix).due,
    {
      allowInsecureConnection: true,
    },
  );
  const entities: unknown[] = [];
  for await (const entity of due.listEntities()) {
    if (entity.customerId === customerId) entities.push(entity);
  }
  return entities;
}

function answered(trackingId: string): number {
  return sims.partnerCenter.requests.filter(
    (r) => r.trackingId === trackingId && r.status === 200 && !r.fault,
  ).length;
}

describe('the host process', () => {
  it('killed with SIGKILL in the middle of a sweep and started again: every tracking finishes, once', async () => {
    const first = await startHost();
    const customerId = crypto.randomUUID();
    const keys = Array.from({ length: 10 }, (_, i) => {
      const batch = sims.partnerCenter.createBatch({
        customerId,
        devices: 3,
        statuses: i % 2 ? ['finished'] : ['processing', 'finished_with_errors'],
        advanceEveryCalls: 1,
      });
      return { customerId, trackingId: batch.trackingId, final: i % 2 ? 'finished' : 'finished_with_errors' };
    });
    for (const k of keys) {
      expect(
        (
          await call(first, 'POST', '/api/trackings', {
            location: `/customers/${k.customerId}/batchJobStatus/${k.trackingId}`,
          })
        ).status,
      ).toBe(201);
    }

    // Slow checks (two at a time), so that the kill lands while the sweep is working.
    sims.partnerCenter.reset();
    sims.partnerCenter.inject({ kind: 'latency', ms: 600 });
    const from = await triggerSweep(first);
    await waitFor(() => sims.partnerCenter.counters.total >= 4, { description: 'the sweep to be half-way' });
    await first.kill('SIGKILL');
    expect(first.lines.slice(from).some((l) => /Sweep (completed|stopped early)/.test(l))).toBe(false);
    expect(sims.partnerCenter.counters.total).toBeLessThan(keys.length);

    // A new process on the same storage picks up everything: the unclaimed, the half-done, the rescheduled.
    sims.partnerCenter.clearFaults();
    const second = await startHost();
    const pendingAtKill = (await states(second, keys)).filter((r) => r.state === 'pending').length;
    expect(pendingAtKill).toBeGreaterThan(0);
    const summaries: string[] = [];
    const done = await waitFor(
      async () => {
        summaries.push(await sweepFinished(second, await triggerSweep(second)));
        const now = await states(second, keys);
        return now.every((r) => r.state !== 'pending') ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: 'every tracking to reach a final state' },
    );
    // Every restart sweep ran to its end, and between them they claimed every tracking the killed
    // process left pending (some twice: a backoff between a tracking's two checks).
    for (const summary of summaries) expect(summary).toMatch(/^.*Sweep completed: claimed=\d+ .*errors=0 /);
    expect(summaries.map(claimedIn).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(pendingAtKill);

    for (const [i, record] of done.entries()) {
      expect(record).toMatchObject({
        state: keys[i]!.final,
        upstreamStatus: keys[i]!.final,
        summary: { devices: 3 },
      });
    }
    // This test's own results (the container is the file's): one per tracking.
    expect((await storedResults()).filter((name) => name.startsWith(customerId)).sort()).toEqual(
      keys.map((k) => `${k.customerId}/${k.trackingId}.json`).sort(),
    );
    expect(await dueEntries(customerId)).toEqual([]);
    for (const k of keys) {
      // A check lost with the killed process may be asked again; nothing after the terminal answer.
      const needed = k.final === 'finished' ? 1 : 2;
      expect(answered(k.trackingId)).toBeGreaterThanOrEqual(needed);
      expect(answered(k.trackingId)).toBeLessThanOrEqual(needed + 1);
    }
    const before = sims.partnerCenter.counters.total;
    const last = await sweepFinished(second, await triggerSweep(second));
    expect(claimedIn(last)).toBe(0);
    expect(sims.partnerCenter.counters.total).toBe(before);
  });

  it('two processes sweeping the same storage at once check each tracking exactly once', async () => {
    // Leases far longer than a check: only the claims can keep the two apart, not timing.
    const [one, two] = await Promise.all([
      startHost({ SWEEP_LEASE_SECONDS: '60' }),
      startHost({ SWEEP_LEASE_SECONDS: '60' }),
    ]);
    const customerId = crypto.randomUUID();
    const keys = Array.from({ length: 12 }, () => {
      const batch = sims.partnerCenter.createBatch({ customerId, devices: 2, statuses: ['finished'] });
      return { customerId, trackingId: batch.trackingId };
    });
    for (const [i, k] of keys.entries()) {
      expect((await call(i % 2 ? one : two, 'POST', '/api/trackings', k)).status).toBe(201);
    }

    sims.partnerCenter.reset();
    sims.partnerCenter.inject({ kind: 'latency', ms: 150 });
    const [fromOne, fromTwo] = await Promise.all([triggerSweep(one), triggerSweep(two)]);
    const [summaryOne, summaryTwo] = await Promise.all([
      sweepFinished(one, fromOne),
      sweepFinished(two, fromTwo),
    ]);
    sims.partnerCenter.clearFaults();

    // Both did work, at the same time: each sweep's calls carry its own MS-CorrelationId, and the
    // spans of the two sets of calls overlap. Between them they claimed every tracking once.
    expect(claimedIn(summaryOne)).toBeGreaterThan(0);
    expect(claimedIn(summaryTwo)).toBeGreaterThan(0);
    expect(claimedIn(summaryOne) + claimedIn(summaryTwo)).toBe(keys.length);
    const spans = new Map<string, { first: number; last: number }>();
    for (const r of sims.partnerCenter.requests) {
      const id = r.headers['ms-correlationid']!;
      const span = spans.get(id) ?? { first: r.at, last: r.at };
      spans.set(id, { first: Math.min(span.first, r.at), last: Math.max(span.last, r.at) });
    }
    const [a, b] = [...spans.values()];
    expect(spans.size).toBe(2);
    expect(a!.first <= b!.last && b!.first <= a!.last, 'the two sweeps overlapped in time').toBe(true);
    for (const k of keys) expect(answered(k.trackingId)).toBe(1);
    expect(sims.partnerCenter.counters.total).toBe(keys.length);
    for (const record of await states(one, keys))
      expect(record).toMatchObject({ state: 'finished', checks: 1 });
    const stored = (await storedResults()).filter((name) => name.startsWith(customerId));
    expect(stored.sort()).toEqual(keys.map((k) => `${k.customerId}/${k.trackingId}.json`).sort());
  });
});
