import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartnerCenterFault, RunningSimulators } from '../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../support/app-settings.js';
import { collectGarbage, withHeapPeak } from '../support/hostile-http.js';
import { type BatchKey, type HttpInvocation, invokeLookup } from '../support/invoke.js';

// Hostile upstream bodies: giant (64 MiB, with and without Content-Length) and endless answers
// must cost at most PARTNER_CENTER_MAX_RESPONSE_BYTES of memory each, end in a 502 and leave the
// process serving.
const MAX_RESPONSE_BYTES = 1024 * 1024;
const GIANT = 64 * 1024 * 1024;

let sims: RunningSimulators;
let getBatchStatus: typeof import('../../functions/getBatchStatus.js').getBatchStatus;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({
    PARTNER_CENTER_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
    PARTNER_CENTER_DEADLINE_MS: '20000',
    PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: '15000',
  });
  ({ getBatchStatus } = await import('../../functions/getBatchStatus.js'));
});

afterAll(async () => {
  await sims?.stop();
});

function lookup(batch: BatchKey): Promise<HttpInvocation> {
  return invokeLookup(getBatchStatus, batch);
}

const BODIES: { name: string; fault: PartnerCenterFault }[] = [
  { name: '64 MiB with Content-Length', fault: { kind: 'huge', bytes: GIANT } },
  { name: '64 MiB chunked (no Content-Length)', fault: { kind: 'huge', bytes: GIANT, chunked: true } },
  { name: 'endless', fault: { kind: 'endless', chunkBytes: 64 * 1024, intervalMs: 0 } },
];

describe('upstream bodies are bounded', () => {
  it.each(BODIES)(
    'a $name answer → 502 upstream-invalid-response, with bounded memory',
    async ({ fault }) => {
      const batch = sims.partnerCenter.createBatch({
        customerId: crypto.randomUUID(),
        statuses: ['processing'],
      });
      sims.partnerCenter.inject(fault, { trackingId: batch.trackingId });
      const { result: res, peakGrowth } = await withHeapPeak(() => lookup(batch));

      expect(res.status).toBe(502);
      expect(res.headers.get('Content-Type')).toBe('application/problem+json');
      expect(res.json).toMatchObject({ type: '/problems/upstream-invalid-response', status: 502 });
      expect((res.json as { detail: string }).detail).toContain(String(MAX_RESPONSE_BYTES));
      // Not retried: the same answer would come back.
      expect(sims.partnerCenter.counters.byTrackingId[batch.trackingId]).toBe(1);
      // Far below the 64 MiB the answer would have cost if read whole (strings take twice that).
      expect(peakGrowth).toBeLessThan(24 * 1024 * 1024);
    },
  );

  it('several at once stay bounded, and the process keeps serving afterwards', async () => {
    const batches = Array.from({ length: 4 }, (_, i) => {
      const batch = sims.partnerCenter.createBatch({
        customerId: crypto.randomUUID(),
        statuses: ['processing'],
      });
      sims.partnerCenter.inject(BODIES[i % BODIES.length]!.fault, { trackingId: batch.trackingId });
      return batch;
    });
    const { result, peakGrowth } = await withHeapPeak(() => Promise.all(batches.map(lookup)));
    expect(result.map((r) => r.status)).toEqual([502, 502, 502, 502]);
    expect(peakGrowth).toBeLessThan(48 * 1024 * 1024);

    // An answer just under the limit is read in full.
    const large = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      statuses: ['finished'],
      devices: 4_000,
    });
    const full = await lookup(large);
    expect(full.text.length).toBeLessThan(MAX_RESPONSE_BYTES);
    expect(full.status).toBe(200);
    expect((full.json as { devicesStatus: unknown[] }).devicesStatus).toHaveLength(4_000);

    await collectGarbage();
    const normal = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      statuses: ['processing'],
    });
    expect((await lookup(normal)).status).toBe(200);
  });
});
