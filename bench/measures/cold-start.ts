import type { Lab } from '../lab.js';
import { median, round } from '../load.js';
import { runWorker } from '../processes.js';
import { formatMs, type Row } from '../report.js';

export interface ColdStartSizes {
  repetitions: number;
}

interface ImportRun {
  importMs: number;
  /** `first-call` runs: loading the domain and building the composition root. */
  firstCallMs?: number;
  sinceProcessStartMs: number;
  functions: number;
}

type Log = (message: string) => void;

/** Packages the app's modules import at load, for the breakdown (they share dependencies: no sum). */
const BREAKDOWN = [
  '@azure/identity',
  '@azure/keyvault-secrets',
  '@azure/data-tables',
  '@azure/storage-blob',
  '@azure/core-rest-pipeline',
  'zod',
  'jose',
];

/** P6: importing the built app vs importing @azure/functions alone, fresh processes, medians. */
export async function measureColdStart(
  lab: Lab,
  projectRoot: string,
  sizes: ColdStartSizes,
  log: Log,
): Promise<Row[]> {
  // Telemetry off: no connection string (Lab.appEnv removes it). Nothing here touches the network.
  const env = lab.appEnv({ tablePrefix: 'benchcold', resultContainer: 'bench-cold' });
  const runs: Record<'functions' | 'app', ImportRun[]> = { functions: [], app: [] };
  log(`[P6] ${sizes.repetitions} fresh processes each (plus one discarded warm-up each)`);
  for (let rep = -1; rep < sizes.repetitions; rep++) {
    const order: ('functions' | 'app')[] = rep % 2 ? ['functions', 'app'] : ['app', 'functions'];
    for (const mode of order) {
      const run = await runWorker<ImportRun>('import-app', { env, input: { mode, projectRoot } });
      if (rep >= 0) runs[mode].push(run);
    }
  }
  // What the first invocation then pays (the work moved out of the import), fresh processes too.
  const firstCalls: ImportRun[] = [];
  for (let rep = 0; rep < sizes.repetitions; rep++) {
    firstCalls.push(
      await runWorker<ImportRun>('import-app', { env, input: { mode: 'first-call', projectRoot } }),
    );
  }
  // Where the app's time goes: the packages its modules load at import, each alone in a fresh process.
  const packages: Record<string, number> = {};
  for (const specifier of BREAKDOWN) {
    const run = await runWorker<ImportRun>('import-app', {
      env,
      input: { mode: 'module', projectRoot, specifier },
    });
    packages[specifier] = round(run.importMs);
  }
  const functionsMs = median(runs.functions.map((r) => r.importMs));
  const appMs = median(runs.app.map((r) => r.importMs));
  const functionsTotal = median(runs.functions.map((r) => r.sinceProcessStartMs));
  const appTotal = median(runs.app.map((r) => r.sinceProcessStartMs));
  const firstCallMs = median(firstCalls.map((r) => r.firstCallMs ?? Number.NaN));
  const firstCallImportMs = median(firstCalls.map((r) => r.importMs));
  return [
    {
      id: 'P6',
      measure: 'cold start: import of the built app (telemetry off)',
      baseline: `@azure/functions ${formatMs(functionsMs)}`,
      result: formatMs(appMs),
      ratio: appMs / functionsMs,
      ratioMeaning: 'app import / @azure/functions import (medians)',
      target: '≤ 2×',
      met: appMs / functionsMs <= 2,
      details: {
        repetitions: sizes.repetitions,
        functionsImportMs: runs.functions.map((r) => round(r.importMs)),
        appImportMs: runs.app.map((r) => round(r.importMs)),
        registeredFunctions: runs.app[0]?.functions,
        packageImportMs: packages,
        processStartToReadyMs: {
          functions: round(functionsTotal),
          app: round(appTotal),
          ratio: round(appTotal / functionsTotal, 3),
        },
      },
    },
    {
      id: 'P6',
      measure: 'first call after a cold start: the domain loaded on first use and services() (no network)',
      baseline: `app import ${formatMs(firstCallImportMs)} (same processes)`,
      result: formatMs(firstCallMs),
      ratio: firstCallMs / firstCallImportMs,
      ratioMeaning: 'first-call cost / app import (medians)',
      target: '— (recorded)',
      details: {
        repetitions: sizes.repetitions,
        firstCallMs: firstCalls.map((r) => round(r.firstCallMs ?? Number.NaN)),
        importMs: firstCalls.map((r) => round(r.importMs)),
      },
    },
  ];
}
