import { batchKeys, type Lab, storageNames } from '../lab.js';
import { round } from '../load.js';
import { runWorker } from '../processes.js';
import { formatBytes, type Row } from '../report.js';

export interface RetentionSizes {
  lookups: number;
  concurrency: number;
  sampleEvery: number;
  maxOldSpaceMb: number;
}

interface RetentionResult {
  lookups: number;
  wallMs: number;
  maxAlive: number;
  finalAlive: number;
  peakHeapUsedBytes: number;
  samples: { lookups: number; alive: number; heapUsedBytes: number }[];
}

/**
 * P1 (memory): finished invocations still reachable while the getBatchStatus handler serves 20,000
 * lookups, 16 at once, in a process with a bounded heap. Each lookup's 25 s deadline timer used to
 * keep its InvocationContext and request alive until it fired.
 */
export async function measureRetention(
  lab: Lab,
  sizes: RetentionSizes,
  log: (message: string) => void,
): Promise<Row[]> {
  lab.sims.partnerCenter.clearFaults();
  const [key] = batchKeys(1, 1);
  lab.createBatches([key!], 'processing');
  log(`[P1] ${sizes.lookups} lookups in process, ${sizes.concurrency} at once: retained invocations`);
  const result = await runWorker<RetentionResult>('lookup-retention', {
    env: lab.appEnv(storageNames('retention')),
    nodeArgs: ['--expose-gc', `--max-old-space-size=${sizes.maxOldSpaceMb}`],
    input: { ...key, lookups: sizes.lookups, concurrency: sizes.concurrency, sampleEvery: sizes.sampleEvery },
  });
  return [
    {
      id: 'P1',
      measure: `finished invocations still reachable during ${sizes.lookups} lookups (${sizes.concurrency} at once, heap ≤ ${sizes.maxOldSpaceMb} MB)`,
      baseline: '—',
      result: `max ${result.maxAlive}, last ${result.finalAlive}; heap ≤ ${formatBytes(result.peakHeapUsedBytes)}`,
      target: 'tens, not thousands',
      met: result.maxAlive < 100,
      details: {
        ...sizes,
        wallMs: round(result.wallMs),
        lookupsPerSecond: round(result.lookups / (result.wallMs / 1000)),
        maxAlive: result.maxAlive,
        finalAlive: result.finalAlive,
        peakHeapUsedBytes: result.peakHeapUsedBytes,
        samples: result.samples,
      },
    },
  ];
}
