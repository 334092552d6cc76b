import { type BatchKeyLike, batchKeys, type Lab, type StorageNames, storageNames } from '../lab.js';
import {
  closedLoop,
  expectOk,
  get,
  keepAliveAgent,
  type LoadStats,
  perCpuSecond,
  processCpuMs,
  round,
  type SimpleResponse,
  summarize,
} from '../load.js';
import { runWorker, type SpawnedWorker, spawnWorker } from '../processes.js';
import { formatMs, type Row } from '../report.js';
import type { Layer } from '../workers/lookup-layers.js';

export interface LookupSizes {
  p1: {
    concurrency: number;
    /** Simulator answer delays to measure at; 0 saturates this machine. */
    upstreamLatenciesMs: number[];
    /** Lookups each way with no upstream latency, and with it. */
    requests: number;
    requestsWithLatency: number;
    warmup: number;
    rounds: number;
  };
  p2: { warmLookups: number; coldLookups: number };
  p3: {
    concurrency: number;
    latencyMs: number;
    liveRequests: number;
    storedKeys: number;
    hotKeys: number;
    hotRequests: number;
  };
}

type Log = (message: string) => void;

const PARTNER_CENTER_AUDIENCE = 'https://api.partnercenter.microsoft.com';

interface AppProcess {
  url: string;
  /** For its CPU time (/proc). */
  pid: number;
  worker: SpawnedWorker<never>;
}

/** The function app on the local Functions host, in a process of its own. */
async function startApp(lab: Lab, names: StorageNames): Promise<AppProcess> {
  const worker = spawnWorker<never>('app-host', { env: lab.appEnv(names) });
  const info = (await worker.ready) as { url: string };
  return { url: info.url, pid: worker.child.pid as number, worker };
}

/** Runs `load` and adds what it cost the app process in CPU time. */
async function withAppCpu<T>(app: AppProcess, load: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = processCpuMs(app.pid);
  const result = await load();
  return { result, cpuMs: processCpuMs(app.pid) - before };
}

function lookupUrl(appUrl: string, key: BatchKeyLike): string {
  return `${appUrl}/api/customers/${key.customerId}/batchJobStatus/${key.trackingId}`;
}

/** P1 + P2 + P3: they share one warm app process (P2's cold half starts its own). */
export async function measureLookups(lab: Lab, sizes: LookupSizes, log: Log): Promise<Row[]> {
  await lab.restartAzurite();
  lab.sims.partnerCenter.reset({ batches: true });
  const names = storageNames('lookup');
  const app = await startApp(lab, names);
  try {
    const rows: Row[] = [];
    rows.push(...(await addedLatency(lab, app, sizes.p1, log)));
    rows.push(...(await credentialTraffic(lab, app.url, names, sizes.p2, log)));
    rows.push(...(await storedVersusLive(lab, app, names, sizes.p3, log)));
    return rows;
  } finally {
    await app.worker.stop();
  }
}

/**
 * P1: added latency of a lookup through the app vs the same call straight to the simulator, 16
 * callers at once. Twice: with the simulator answering after 50 ms (Partner Center itself takes
 * longer), where the machine has room and the difference is the app's own latency; and with it
 * answering at once, which saturates this machine's two cores (load, simulator, Azurite and the
 * app share them), so the difference there is queueing behind the app's CPU work per lookup.
 */
async function addedLatency(lab: Lab, app: AppProcess, sizes: LookupSizes['p1'], log: Log): Promise<Row[]> {
  const rows: Row[] = [];
  for (const upstreamMs of sizes.upstreamLatenciesMs) {
    lab.sims.partnerCenter.clearFaults();
    if (upstreamMs > 0) lab.sims.partnerCenter.inject({ kind: 'latency', ms: upstreamMs });
    try {
      rows.push(...(await addedLatencyAt(lab, app, sizes, upstreamMs, log)));
    } finally {
      lab.sims.partnerCenter.clearFaults();
    }
  }
  return rows;
}

async function addedLatencyAt(
  lab: Lab,
  app: AppProcess,
  sizes: LookupSizes['p1'],
  upstreamMs: number,
  log: Log,
): Promise<Row[]> {
  const [key] = batchKeys(1, 1) as [BatchKeyLike];
  lab.createBatches([key], 'processing');
  const token = await lab.sims.entra.issueToken({
    audience: PARTNER_CENTER_AUDIENCE,
    clientId: lab.sims.app.clientId,
  });
  const directUrl = `${lab.sims.partnerCenter.url}/v1/customers/${key.customerId}/batchJobStatus/${key.trackingId}`;
  const { concurrency } = sizes;
  const requests = upstreamMs > 0 ? sizes.requestsWithLatency : sizes.requests;
  const directAgent = keepAliveAgent(true, concurrency);
  const appAgent = keepAliveAgent(false, concurrency);
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const direct = async () =>
    expectOk(await get(directUrl, { agent: directAgent, headers }), 'Partner Center simulator');
  const through = async () => expectOk(await get(lookupUrl(app.url, key), { agent: appAgent }), 'the app');

  log(`[P1] upstream ${upstreamMs} ms: ${requests} lookups each way over HTTP, ${concurrency} concurrent`);
  await closedLoop({ concurrency, total: sizes.warmup }, direct);
  await closedLoop({ concurrency, total: sizes.warmup }, through);
  const samples = { direct: [] as number[], app: [] as number[] };
  const wall = { direct: 0, app: 0 };
  // The app process's CPU time during each kind's runs (idle while the direct calls run).
  const appCpuMs = { direct: 0, app: 0 };
  const perRound = Math.ceil(requests / sizes.rounds);
  for (let r = 0; r < sizes.rounds; r++) {
    for (const [kind, send] of [
      ['direct', direct],
      ['app', through],
    ] as const) {
      const { result: run, cpuMs } = await withAppCpu(app, () =>
        closedLoop({ concurrency, total: perRound }, send),
      );
      samples[kind].push(...run.latenciesMs);
      wall[kind] += run.wallMs;
      appCpuMs[kind] += cpuMs;
    }
  }
  directAgent.destroy();
  appAgent.destroy();
  const overHttp = { direct: summarize(samples.direct, wall.direct), app: summarize(samples.app, wall.app) };

  log(`[P1] upstream ${upstreamMs} ms: the same, calling the handler in process`);
  const inProcess = await runWorker<{
    direct: LoadStats;
    handler: LoadStats;
    cpuMs: { direct: number; handler: number };
  }>('handler-load', {
    env: lab.appEnv(storageNames('handler')),
    input: {
      ...key,
      partnerCenterUrl: lab.sims.partnerCenter.url,
      token,
      concurrency,
      requests,
      warmup: sizes.warmup,
      rounds: sizes.rounds,
    },
  });

  const layers = upstreamMs === 0 ? [await cpuByLayer(lab, key, token, sizes, log)] : [];

  const situation = upstreamMs > 0 ? `upstream ${upstreamMs} ms` : 'upstream 0 ms, machine saturated';
  const row = (path: string, baseline: LoadStats, app: LoadStats): Row => {
    const p50 = app.p50Ms - baseline.p50Ms;
    const p99 = app.p99Ms - baseline.p99Ms;
    return {
      id: 'P1',
      measure: `added lookup latency p50 / p99, ${path}, ${situation} (${concurrency} concurrent)`,
      baseline: `direct ${formatMs(baseline.p50Ms)} / ${formatMs(baseline.p99Ms)}`,
      result: `${signed(p50)} / ${signed(p99)}`,
      ratio: app.p50Ms / baseline.p50Ms,
      ratioMeaning: 'app p50 / direct p50',
      target: '≤ +1 ms / ≤ +5 ms',
      met: p50 <= 1 && p99 <= 5,
      details: {
        upstreamLatencyMs: upstreamMs,
        requestsEachWay: requests,
        addedP50Ms: round(p50, 3),
        addedP99Ms: round(p99, 3),
        direct: roundStats(baseline),
        app: roundStats(app),
      },
    };
  };
  const httpPerCpuS = perCpuSecond(overHttp.app.requests, appCpuMs.app);
  const handlerPerCpuS = perCpuSecond(inProcess.handler.requests, inProcess.cpuMs.handler);
  const directPerCpuS = perCpuSecond(inProcess.direct.requests, inProcess.cpuMs.direct);
  const perCore = (what: string) =>
    `lookups per CPU-second, ${what}, ${situation} (${concurrency} concurrent)`;
  return [
    row('HTTP through the local Functions host', overHttp.direct, overHttp.app),
    row('handler called in process', inProcess.direct, inProcess.handler),
    ...layers,
    {
      id: 'P1',
      measure: perCore('app process, HTTP through the local Functions host'),
      baseline: '—',
      result: `${httpPerCpuS.toFixed(0)} per CPU-s (${overHttp.app.throughputPerSecond.toFixed(0)}/s)`,
      target: '— (recorded)',
      details: {
        upstreamLatencyMs: upstreamMs,
        lookups: overHttp.app.requests,
        appCpuMs: round(appCpuMs.app),
        appCpuMsWhileDirectRan: round(appCpuMs.direct),
        lookupsPerCpuSecond: round(httpPerCpuS),
        lookupsPerSecond: round(overHttp.app.throughputPerSecond),
      },
    },
    {
      id: 'P1',
      measure: perCore('handler called in process'),
      baseline: `direct GET ${directPerCpuS.toFixed(0)} per CPU-s`,
      result: `${handlerPerCpuS.toFixed(0)} per CPU-s (${inProcess.handler.throughputPerSecond.toFixed(0)}/s)`,
      ratio: directPerCpuS / handlerPerCpuS,
      ratioMeaning: 'CPU per lookup / CPU per direct GET',
      target: '— (recorded)',
      details: {
        upstreamLatencyMs: upstreamMs,
        lookups: inProcess.handler.requests,
        cpuMs: { direct: round(inProcess.cpuMs.direct), handler: round(inProcess.cpuMs.handler) },
        lookupsPerCpuSecond: round(handlerPerCpuS),
        directPerCpuSecond: round(directPerCpuS),
        lookupsPerSecond: round(inProcess.handler.throughputPerSecond),
        directPerSecond: round(inProcess.direct.throughputPerSecond),
      },
    },
  ];
}

const LAYER_NAMES: Record<Layer, string> = {
  bareGet: 'bare GET',
  sdkHttpClient: "SDK's HTTP client",
  partnerCenterClient: 'Partner Center client',
  lookup: 'lookup',
  handler: 'handler',
};

/** P1: CPU per call through each layer in turn, in one process (bench/workers/lookup-layers.ts). */
async function cpuByLayer(
  lab: Lab,
  key: BatchKeyLike,
  token: string,
  sizes: LookupSizes['p1'],
  log: Log,
): Promise<Row> {
  log(`[P1] upstream 0 ms: CPU per call through each layer, in process`);
  const { cpuMs, calls } = await runWorker<{ cpuMs: Record<Layer, number>; calls: Record<Layer, number> }>(
    'lookup-layers',
    {
      env: lab.appEnv(storageNames('layers')),
      input: {
        ...key,
        partnerCenterUrl: lab.sims.partnerCenter.url,
        token,
        concurrency: sizes.concurrency,
        requests: sizes.requests,
        warmup: sizes.warmup,
        rounds: sizes.rounds,
      },
    },
  );
  const micros = Object.fromEntries(
    (Object.keys(LAYER_NAMES) as Layer[]).map((layer) => [
      layer,
      round((1000 * cpuMs[layer]) / calls[layer], 1),
    ]),
  ) as Record<Layer, number>;
  return {
    id: 'P1',
    measure: `CPU per call through each layer, in process, upstream 0 ms (${sizes.concurrency} concurrent)`,
    baseline: `bare GET ${micros.bareGet.toFixed(0)} µs`,
    result: (Object.keys(LAYER_NAMES) as Layer[])
      .filter((layer) => layer !== 'bareGet')
      .map((layer) => `${LAYER_NAMES[layer]} ${micros[layer].toFixed(0)}`)
      .join(' · ')
      .concat(' µs'),
    ratio: micros.handler / micros.bareGet,
    ratioMeaning: 'CPU per handler call / CPU per bare GET',
    target: '— (recorded)',
    details: {
      microsPerCall: micros,
      calls,
      cpuMs: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, round(v)])),
    },
  };
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${formatMs(Math.abs(ms))}`;
}

/** P2: vault reads and token requests, warm and for a burst of cold lookups. */
async function credentialTraffic(
  lab: Lab,
  appUrl: string,
  names: StorageNames,
  sizes: LookupSizes['p2'],
  log: Log,
): Promise<Row[]> {
  const [key] = batchKeys(1, 1) as [BatchKeyLike];
  lab.createBatches([key], 'processing');

  log(`[P2] ${sizes.warmLookups} warm lookups`);
  const agent = keepAliveAgent(false, 16);
  await get(lookupUrl(appUrl, key), { agent });
  const before = lab.counters();
  await closedLoop({ concurrency: 16, total: sizes.warmLookups }, async () =>
    expectOk(await get(lookupUrl(appUrl, key), { agent }), 'the app'),
  );
  const warm = delta(before, lab.counters());
  agent.destroy();

  log(`[P2] ${sizes.coldLookups} concurrent lookups on a cold instance`);
  const cold = await startApp(lab, names);
  const burstAgent = keepAliveAgent(false, sizes.coldLookups);
  let coldDelta: ReturnType<typeof delta>;
  let statuses: number[];
  try {
    const beforeCold = lab.counters();
    const responses = await Promise.all(
      Array.from({ length: sizes.coldLookups }, () => get(lookupUrl(cold.url, key), { agent: burstAgent })),
    );
    statuses = responses.map((r) => r.status);
    coldDelta = delta(beforeCold, lab.counters());
  } finally {
    burstAgent.destroy();
    await cold.worker.stop();
  }
  const allOk = statuses.every((s) => s === 200);
  const perThousand = (n: number) => (n / sizes.warmLookups) * 1000;
  return [
    {
      id: 'P2',
      measure: `vault reads + token requests per 1,000 warm lookups`,
      baseline: '—',
      result: `${perThousand(warm.vaultReads)} + ${perThousand(warm.appTokenRequests)}`,
      target: '0 + 0',
      met: warm.vaultReads === 0 && warm.appTokenRequests === 0,
      details: { lookups: sizes.warmLookups, ...warm },
    },
    {
      id: 'P2',
      measure: `vault reads + token requests for ${sizes.coldLookups} concurrent cold lookups`,
      baseline: '—',
      result: `${coldDelta.vaultReads} + ${coldDelta.appTokenRequests}`,
      target: '1 + 1',
      met: allOk && coldDelta.vaultReads === 1 && coldDelta.appTokenRequests === 1,
      details: {
        lookups: sizes.coldLookups,
        ...coldDelta,
        answered200: statuses.filter((s) => s === 200).length,
        note: 'allTokenRequests also counts the vault-access token of the developer identity (DefaultAzureCredential)',
      },
    },
  ];
}

function delta(before: ReturnType<Lab['counters']>, after: ReturnType<Lab['counters']>) {
  return {
    vaultReads: after.vaultReads - before.vaultReads,
    appTokenRequests: after.appTokenRequests - before.appTokenRequests,
    allTokenRequests: after.allTokenRequests - before.allTokenRequests,
    partnerCenterCalls: after.partnerCenterCalls - before.partnerCenterCalls,
  };
}

/** P3: stored terminal results vs live lookups, upstream latency 50 ms. */
async function storedVersusLive(
  lab: Lab,
  app: AppProcess,
  names: StorageNames,
  sizes: LookupSizes['p3'],
  log: Log,
): Promise<Row[]> {
  const { concurrency } = sizes;
  const [live] = batchKeys(1, 1) as [BatchKeyLike];
  lab.createBatches([live], 'processing');
  const stored = batchKeys(sizes.storedKeys, 20);
  lab.createBatches(stored, 'finishing');
  log(`[P3] storing ${stored.length} terminal results`);
  const { results } = lab.storage(names);
  const queue = [...stored];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let key = queue.pop(); key; key = queue.pop()) await results.put(key, lab.batchDetails(key));
    }),
  );

  const agent = keepAliveAgent(false, concurrency);
  const sources: Record<string, number> = {};
  const lookup = async (key: BatchKeyLike) => {
    const response: SimpleResponse = await get(lookupUrl(app.url, key), { agent });
    expectOk(response, 'the app');
    const source = String(response.headers['x-result-source'] ?? 'none');
    sources[source] = (sources[source] ?? 0) + 1;
  };
  const run = async (total: number, keyAt: (i: number) => BatchKeyLike) => {
    for (const k of Object.keys(sources)) delete sources[k];
    const before = lab.counters().partnerCenterCalls;
    const { result, cpuMs } = await withAppCpu(app, () =>
      closedLoop({ concurrency, total }, (i) => lookup(keyAt(i))),
    );
    return {
      stats: summarize(result.latenciesMs, result.wallMs),
      appCpuMs: cpuMs,
      perCpuSecond: perCpuSecond(total, cpuMs),
      upstreamCalls: lab.counters().partnerCenterCalls - before,
      sources: { ...sources },
    };
  };

  lab.sims.partnerCenter.inject({ kind: 'latency', ms: sizes.latencyMs });
  try {
    log(`[P3] ${sizes.liveRequests} live lookups`);
    const liveRun = await run(sizes.liveRequests, () => live);
    log(`[P3] ${stored.length} lookups of stored results (each once: from blob storage)`);
    const storageRun = await run(stored.length, (i) => stored[i] as BatchKeyLike);
    const hot = stored.slice(0, sizes.hotKeys);
    log(`[P3] ${sizes.hotRequests} lookups over ${hot.length} recently read results (memory)`);
    const memoryRun = await run(sizes.hotRequests, (i) => hot[i % hot.length] as BatchKeyLike);
    const row = (label: string, result: Awaited<ReturnType<typeof run>>): Row => {
      const ratio = result.stats.throughputPerSecond / liveRun.stats.throughputPerSecond;
      return {
        id: 'P3',
        measure: `stored terminal results, ${label}, vs live (upstream 50 ms, ${concurrency} concurrent)`,
        baseline: `live ${liveRun.stats.throughputPerSecond.toFixed(0)}/s (${liveRun.perCpuSecond.toFixed(0)} per CPU-s)`,
        result: `${result.stats.throughputPerSecond.toFixed(0)}/s (${result.perCpuSecond.toFixed(0)} per CPU-s of the app), ${result.upstreamCalls} upstream calls`,
        ratio,
        ratioMeaning: 'stored throughput / live throughput',
        target: '0 upstream calls, ≥ 10×',
        met: result.upstreamCalls === 0 && ratio >= 10,
        details: {
          live: {
            ...roundStats(liveRun.stats),
            sources: liveRun.sources,
            upstreamCalls: liveRun.upstreamCalls,
            appCpuMs: round(liveRun.appCpuMs),
            lookupsPerCpuSecond: round(liveRun.perCpuSecond),
          },
          stored: {
            ...roundStats(result.stats),
            sources: result.sources,
            appCpuMs: round(result.appCpuMs),
            lookupsPerCpuSecond: round(result.perCpuSecond),
          },
        },
      };
    };
    return [row('read from blob storage', storageRun), row('recently read (memory)', memoryRun)];
  } finally {
    lab.sims.partnerCenter.clearFaults();
    agent.destroy();
  }
}

function roundStats(stats: LoadStats): Record<string, number> {
  return Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, round(v, 3)]));
}
