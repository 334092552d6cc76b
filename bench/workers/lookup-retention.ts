import { installFunctionsCore } from '../../dev/host/functions-core.js';
import { closedLoop } from '../load.js';
import { input, reply } from '../processes.js';
import { lookupInvocation } from './lookup-invocation.js';

/**
 * How many finished invocations stay reachable while the getBatchStatus handler serves a stream of
 * lookups (real HttpRequest and InvocationContext, 16 at once): every context is watched by a
 * FinalizationRegistry, and every 1,000 lookups a full GC (`--expose-gc`) runs before counting the
 * contexts still alive. Run with a bounded heap (`--max-old-space-size`), as the issue asks.
 */
interface RetentionInput {
  customerId: string;
  trackingId: string;
  lookups: number;
  concurrency: number;
  sampleEvery: number;
}

declare const gc: () => void;

async function main(): Promise<void> {
  const args = input<RetentionInput>();
  installFunctionsCore();
  const { getBatchStatus } = await import('../../functions/getBatchStatus.js');
  let created = 0;
  let collected = 0;
  const registry = new FinalizationRegistry<void>(() => {
    collected++;
  });
  const samples: { lookups: number; alive: number; heapUsedBytes: number }[] = [];
  const sample = async (lookups: number) => {
    gc();
    // Finalizers run on a later turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    samples.push({ lookups, alive: created - collected, heapUsedBytes: process.memoryUsage().heapUsed });
  };
  const lookup = async () => {
    const { request, context } = lookupInvocation(args);
    created++;
    registry.register(context);
    const response = await getBatchStatus(request, context);
    if ((response.status ?? 200) !== 200) throw new Error(`getBatchStatus answered ${response.status}`);
  };
  await closedLoop({ concurrency: args.concurrency, total: 200 }, lookup);
  let peakHeap = 0;
  const started = performance.now();
  for (let done = 0; done < args.lookups; done += args.sampleEvery) {
    await closedLoop({ concurrency: args.concurrency, total: args.sampleEvery }, lookup);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    await sample(done + args.sampleEvery);
  }
  const wallMs = performance.now() - started;
  await reply({
    lookups: args.lookups,
    wallMs,
    maxAlive: Math.max(...samples.map((s) => s.alive)),
    finalAlive: samples.at(-1)?.alive,
    peakHeapUsedBytes: peakHeap,
    samples,
    memory: process.memoryUsage(),
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
