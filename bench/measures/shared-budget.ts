import type { ThrottlingPolicy } from '../../dev/simulators/partner-throttle.js';
import { batchKeys, dueRecords, type Lab, storageNames } from '../lab.js';
import { round } from '../load.js';
import { spawnWorker } from '../processes.js';
import { formatMs, type Row } from '../report.js';
import { importRecords } from '../support/import-records.js';

export interface BudgetSizes {
  /** Due trackings per run. */
  trackings: number;
  policies: { name: string; policy: ThrottlingPolicy; ratePerSecond: number }[];
  instances: number[];
}

interface InstanceResult {
  sweepMs: number;
  sweepDoneAt: number;
  reports: { claimed: number; finished: number; errors: number; throttled: number }[];
  tool: { at: number; status: number; ms: number }[];
  finalRatePerMinute: number;
}

type Log = (message: string) => void;

/**
 * P8: N due trackings swept under partner-wide throttling while a tool looks a batch up once a
 * second, with one and with two app processes sharing the storage (and so the budget). Ideal time
 * is N / the partner's allowed rate; every upstream call counts, the tool's included.
 */
export async function measureSharedBudget(lab: Lab, sizes: BudgetSizes, log: Log): Promise<Row[]> {
  const rows: Row[] = [];
  for (const { name, policy, ratePerSecond } of sizes.policies) {
    for (const instances of sizes.instances) {
      rows.push(await measureOne(lab, sizes.trackings, name, policy, ratePerSecond, instances, log));
    }
  }
  return rows;
}

async function measureOne(
  lab: Lab,
  n: number,
  name: string,
  policy: ThrottlingPolicy,
  ratePerSecond: number,
  instances: number,
  log: Log,
): Promise<Row> {
  const pc = lab.sims.partnerCenter;
  pc.reset({ batches: true });
  pc.throttle(undefined);
  const names = storageNames('P8');
  const keys = batchKeys(n, Math.max(1, Math.ceil(n / 100)));
  lab.createBatches(keys, 'finishing');
  const [toolKey] = batchKeys(1, 1);
  lab.createBatches([toolKey!], 'processing');
  log(`[P8] ${name}, ${instances} process(es): seeding ${n} due trackings`);
  await importRecords(lab.storage(names).tables, dueRecords(keys, Date.now()));

  const env = lab.appEnv(names, {
    SWEEP_INITIAL_BACKOFF_SECONDS: '3600',
    SWEEP_MAX_BACKOFF_SECONDS: '3600',
  });
  const workers = Array.from({ length: instances }, (_, i) =>
    spawnWorker<InstanceResult>('budget-instance', {
      env,
      input: i === 0 ? { tool: toolKey } : {},
    }),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
    pc.throttle(policy);
    const startAt = Date.now();
    for (const worker of workers) worker.child.kill('SIGUSR2');
    const results = await Promise.all(workers.map((w) => w.result));
    const doneAt = Math.max(...results.map((r) => r.sweepDoneAt));
    const wallMs = doneAt - startAt;
    const calls = pc.requests.filter((r) => r.at >= startAt && r.at <= doneAt);
    const throttled = calls.filter((r) => r.status === 429).length;
    const tool = results[0]!.tool.filter((t) => t.at <= doneAt + 1000);
    const tool200 = tool.filter((t) => t.status === 200).length;
    const finished = results.flatMap((r) => r.reports).reduce((sum, r) => sum + r.finished, 0);
    const idealMs = (n / ratePerSecond) * 1000;
    const ratio = wallMs / idealMs;
    const throttledShare = throttled / Math.max(1, calls.length);
    const toolShare = tool200 / Math.max(1, tool.length);
    const problems = finished === n ? [] : [`finished ${finished} of ${n}`];
    log(
      `[P8] ${name}, ${instances}: ${formatMs(wallMs)} (${round(ratio)}× ideal), 429s ${round(throttledShare * 100, 1)}%, tool ${tool200}/${tool.length} answered 200`,
    );
    return {
      id: 'P8',
      measure: `${n} due trackings swept under ${name}, a tool looking up once a second, ${instances} app process${instances > 1 ? 'es' : ''}`,
      baseline: `ideal N/rate ${formatMs(idealMs)}`,
      result: `${formatMs(wallMs)}; 429s ${round(throttledShare * 100, 1)}%; tool ${round(toolShare * 100, 1)}% 200`,
      ratio,
      ratioMeaning: 'sweep time / (N / allowed rate)',
      target: '≤ 1.5×, ≤ 5% 429s, ≥ 95% tool 200',
      met: problems.length === 0 && ratio <= 1.5 && throttledShare <= 0.05 && toolShare >= 0.95,
      details: {
        trackings: n,
        policy,
        instances,
        wallMs,
        idealMs,
        upstreamCalls: calls.length,
        upstream429: throttled,
        toolLookups: tool.length,
        tool200,
        toolP99Ms: round(Math.max(...tool.map((t) => t.ms)), 1),
        finished,
        finalRatePerMinute: results.map((r) => round(r.finalRatePerMinute)),
        sweepRuns: results.map((r) => r.reports.length),
        problems,
      },
    };
  } finally {
    pc.throttle(undefined);
    await Promise.all(workers.map((w) => w.stop()));
  }
}
