import { type BatchKeyLike, batchKeys, dueRecords, historyRecords, type Lab, storageNames } from '../lab.js';
import { median, round } from '../load.js';
import { runWorker } from '../processes.js';
import { formatBytes, formatMs, type Row } from '../report.js';
import { importRecords } from '../support/import-records.js';

/**
 * `upstream`: PARTNER_CENTER_MAX_CONCURRENCY, the calls Partner Center sees at once (the limit's
 * divisor). `sweep`: SWEEP_CONCURRENCY, trackings in progress, storage work included.
 */
export interface SweepConcurrency {
  upstream: number;
  sweep: number;
}

export interface SweepSizes {
  p4: { trackings: number; latencyMs: number; concurrency: SweepConcurrency; loopSample: number };
  p5: { due: number; history: number; repetitions: number; latencyMs: number; concurrency: SweepConcurrency };
  p7: { trackings: number; latencyMs: number; concurrency: SweepConcurrency; maxRssBytes: number };
}

function sweepSettings(concurrency: SweepConcurrency): Record<string, string> {
  return {
    SWEEP_CONCURRENCY: String(concurrency.sweep),
    PARTNER_CENTER_MAX_CONCURRENCY: String(concurrency.upstream),
    // Checked trackings come back an hour later, not during a later run of the same measure.
    SWEEP_INITIAL_BACKOFF_SECONDS: '3600',
    SWEEP_MAX_BACKOFF_SECONDS: '3600',
  };
}

/** What the sweep worker reports. */
interface SweepRun {
  wallMs: number;
  report: {
    claimed: number;
    finished: number;
    stillPending: number;
    errors: number;
    skipped: number;
    stoppedEarly: boolean;
  };
  requests: Record<string, Record<string, number>>;
  responseTimesMs: Record<string, { mean: number; p90: number }>;
  warnings: number;
  firstWarnings: string[];
  maxRssBytes: number;
  sampledPeakRssBytes: number;
}

type Log = (message: string) => void;

/** Half the batches finish at the first look, half are still processing: both paths of a check. */
function createHalfFinishing(lab: Lab, keys: readonly BatchKeyLike[]): void {
  const half = Math.floor(keys.length / 2);
  lab.createBatches(keys.slice(0, half), 'finishing');
  lab.createBatches(keys.slice(half), 'processing');
}

function perTracking(
  requests: SweepRun['requests'],
  trackings: number,
): Record<string, Record<string, number>> {
  const result: Record<string, Record<string, number>> = {};
  for (const [service, byMethod] of Object.entries(requests)) {
    result[service] = Object.fromEntries(
      Object.entries(byMethod).map(([method, n]) => [method, round(n / Math.max(1, trackings), 2)]),
    );
  }
  return result;
}

function totalPer(requests: SweepRun['requests'], service: string, trackings: number): number {
  const total = Object.values(requests[service] ?? {}).reduce((a, b) => a + b, 0);
  return round(total / Math.max(1, trackings), 2);
}

function checkRun(run: SweepRun, expected: { claimed: number; finished: number }, log: Log): string[] {
  const problems: string[] = [];
  if (run.report.claimed !== expected.claimed)
    problems.push(`claimed ${run.report.claimed}, expected ${expected.claimed}`);
  if (run.report.finished !== expected.finished)
    problems.push(`finished ${run.report.finished}, expected ${expected.finished}`);
  if (run.report.errors > 0) problems.push(`${run.report.errors} errors (${run.firstWarnings.join('; ')})`);
  for (const problem of problems) log(`  !! ${problem}`);
  return problems;
}

/** P4: 5,000 due trackings, upstream latency 100 ms, against the sequential loop and the concurrency limit. */
export async function measureSweepThroughput(lab: Lab, sizes: SweepSizes['p4'], log: Log): Promise<Row[]> {
  const { trackings: n, latencyMs, concurrency, loopSample } = sizes;
  await lab.restartAzurite();
  lab.sims.partnerCenter.reset({ batches: true });
  const names = storageNames('P4');
  const keys = batchKeys(n, Math.max(1, Math.ceil(n / 100)));
  const sample = batchKeys(loopSample, 1);
  createHalfFinishing(lab, keys);
  lab.createBatches(sample, 'processing');
  log(`[P4] seeding ${n} due trackings`);
  await importRecords(lab.storage(names).tables, dueRecords(keys, Date.now()));

  lab.sims.partnerCenter.inject({ kind: 'latency', ms: latencyMs });
  const env = lab.appEnv(names, sweepSettings(concurrency));
  try {
    log(`[P4] sequential loop over a sample of ${loopSample}`);
    const loop = await runWorker<SweepRun>('sweep-run', {
      env,
      input: { mode: 'loop', ports: lab.ports(), sample },
    });
    log(
      `[P4] sweep of ${n}, ${concurrency.upstream} upstream calls at once (${concurrency.sweep} trackings)`,
    );
    const sweep = await runWorker<SweepRun>('sweep-run', {
      env,
      input: { mode: 'sweep', ports: lab.ports() },
    });
    const problems = checkRun(sweep, { claimed: n, finished: Math.floor(n / 2) }, log);

    const loopEstimateMs = (loop.wallMs / loopSample) * n;
    const limitMs = (n * latencyMs) / concurrency.upstream;
    const details = {
      trackings: n,
      upstreamLatencyMs: latencyMs,
      concurrency,
      loopSample,
      loopSampleMs: round(loop.wallMs),
      loopPerTrackingMs: round(loop.wallMs / loopSample),
      loopEstimateMs: round(loopEstimateMs),
      sweepMs: round(sweep.wallMs),
      limitMs: round(limitMs),
      sweepPerTrackingMs: round(sweep.wallMs / n, 3),
      requestsPerTracking: perTracking(sweep.requests, n),
      responseTimesMs: sweep.responseTimesMs,
      report: sweep.report,
      problems,
    };
    return [
      {
        id: 'P4',
        measure: `sweep of ${n} due trackings (upstream 100 ms) vs sequential loop`,
        baseline: `loop ≈ ${formatMs(loopEstimateMs)} (${loopSample} measured, ×${n / loopSample})`,
        result: formatMs(sweep.wallMs),
        ratio: loopEstimateMs / sweep.wallMs,
        ratioMeaning: 'loop time / sweep time',
        target: '≥ 12×',
        met: problems.length === 0 && loopEstimateMs / sweep.wallMs >= 12,
        details,
      },
      {
        id: 'P4',
        measure: `same sweep vs limit N·latency/concurrency (${concurrency.upstream} calls at once, ${concurrency.sweep} trackings in progress)`,
        baseline: `limit ${formatMs(limitMs)}`,
        result: formatMs(sweep.wallMs),
        ratio: sweep.wallMs / limitMs,
        ratioMeaning: 'sweep time / limit',
        target: '≤ 1.2×',
        met: problems.length === 0 && sweep.wallMs / limitMs <= 1.2,
        details: {
          storageRequestsPerTracking:
            totalPer(sweep.requests, 'table', n) + totalPer(sweep.requests, 'blob', n),
        },
      },
    ];
  } finally {
    lab.sims.partnerCenter.clearFaults();
  }
}

/**
 * P5: the same 500-tracking sweep with and without 50,000 terminal records in history: the two
 * table sets live in the same Azurite, and the runs alternate, after one warm-up run of each.
 */
export async function measureSweepHistory(lab: Lab, sizes: SweepSizes['p5'], log: Log): Promise<Row[]> {
  const { due, history, repetitions, latencyMs, concurrency } = sizes;
  await lab.restartAzurite();
  lab.sims.partnerCenter.reset({ batches: true });
  const empty = storageNames('P5e');
  const full = storageNames('P5h');
  log(`[P5] seeding ${history} terminal records of history`);
  const seedStarted = performance.now();
  await importRecords(
    lab.storage(full).tables,
    historyRecords(batchKeys(history, Math.max(1, Math.ceil(history / 1000))), Date.now()),
  );
  const seedMs = performance.now() - seedStarted;
  log(`[P5] seeded in ${formatMs(seedMs)}`);

  const runs: Record<'empty' | 'history', SweepRun[]> = { empty: [], history: [] };
  const problems: string[] = [];
  lab.sims.partnerCenter.inject({ kind: 'latency', ms: latencyMs });
  // rep -1 warms Azurite and both table sets up; it is not counted.
  for (let rep = -1; rep < repetitions; rep++) {
    const order: ('empty' | 'history')[] = rep % 2 ? ['history', 'empty'] : ['empty', 'history'];
    for (const kind of order) {
      const names = kind === 'empty' ? empty : full;
      const keys = batchKeys(due, 10);
      createHalfFinishing(lab, keys);
      await importRecords(lab.storage(names).tables, dueRecords(keys, Date.now()));
      const env = lab.appEnv(names, sweepSettings(concurrency));
      const run = await runWorker<SweepRun>('sweep-run', {
        env,
        input: { mode: 'sweep', ports: lab.ports() },
      });
      problems.push(...checkRun(run, { claimed: due, finished: Math.floor(due / 2) }, log));
      log(`[P5] ${kind}: ${formatMs(run.wallMs)}${rep < 0 ? ' (warm-up, not counted)' : ''}`);
      if (rep >= 0) runs[kind].push(run);
    }
  }
  lab.sims.partnerCenter.clearFaults();
  const emptyMs = median(runs.empty.map((r) => r.wallMs));
  const historyMs = median(runs.history.map((r) => r.wallMs));
  const ratio = historyMs / emptyMs;
  return [
    {
      id: 'P5',
      measure: `sweep of ${due} due (upstream ${latencyMs} ms) with ${history} terminal records in history`,
      baseline: `no history ${formatMs(emptyMs)}`,
      result: formatMs(historyMs),
      ratio,
      ratioMeaning: 'with history / without (medians)',
      target: '≤ 1.2×',
      met: problems.length === 0 && ratio <= 1.2,
      details: {
        due,
        history,
        repetitions,
        upstreamLatencyMs: latencyMs,
        concurrency,
        seedMs: round(seedMs),
        emptyRunsMs: runs.empty.map((r) => round(r.wallMs)),
        historyRunsMs: runs.history.map((r) => round(r.wallMs)),
        requestsPerTrackingEmpty: perTracking(runs.empty[0]?.requests ?? {}, due),
        requestsPerTrackingHistory: perTracking(runs.history[0]?.requests ?? {}, due),
        problems,
      },
    },
  ];
}

/** P7: peak RSS of a process sweeping 20,000 due trackings. */
export async function measureSweepMemory(lab: Lab, sizes: SweepSizes['p7'], log: Log): Promise<Row[]> {
  const { trackings: n, latencyMs, concurrency, maxRssBytes } = sizes;
  await lab.restartAzurite();
  lab.sims.partnerCenter.reset({ batches: true });
  const names = storageNames('P7');
  const keys = batchKeys(n, Math.max(1, Math.ceil(n / 100)));
  createHalfFinishing(lab, keys);
  log(`[P7] seeding ${n} due trackings`);
  await importRecords(lab.storage(names).tables, dueRecords(keys, Date.now()));
  lab.sims.partnerCenter.inject({ kind: 'latency', ms: latencyMs });
  try {
    log(`[P7] sweeping ${n}`);
    const env = lab.appEnv(names, sweepSettings(concurrency));
    const run = await runWorker<SweepRun>('sweep-run', { env, input: { mode: 'sweep', ports: lab.ports() } });
    const problems = checkRun(run, { claimed: n, finished: Math.floor(n / 2) }, log);
    return [
      {
        id: 'P7',
        measure: `peak RSS while sweeping ${n} due trackings`,
        baseline: '—',
        result: formatBytes(run.maxRssBytes),
        target: `≤ ${formatBytes(maxRssBytes)}`,
        met: problems.length === 0 && run.maxRssBytes <= maxRssBytes,
        details: {
          trackings: n,
          upstreamLatencyMs: latencyMs,
          concurrency,
          sweepMs: round(run.wallMs),
          maxRssBytes: run.maxRssBytes,
          sampledPeakRssBytes: run.sampledPeakRssBytes,
          report: run.report,
          problems,
        },
      },
    ];
  } finally {
    lab.sims.partnerCenter.clearFaults();
  }
}
