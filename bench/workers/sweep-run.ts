import { DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID } from '../../dev/simulators/partner-center.js';
import { AppServices } from '../../shared/composition.js';
import { type Log, silentLog } from '../../shared/diagnostics/log.js';
import { input, reply } from '../processes.js';
import { RequestCounter } from './request-counter.js';

/**
 * One sweep (or the sequential loop baseline) in a process of its own, configured only by the
 * app's settings in the environment, as the Functions host would run it. Reports the wall time,
 * the sweep report, every request it sent and its peak memory.
 */

interface SweepInput {
  mode: 'sweep' | 'loop';
  /** port → service name, for counting requests. */
  ports: Record<string, string>;
  /** Loop mode: the trackings to check one after the other. */
  sample?: { customerId: string; trackingId: string }[];
}

async function main(): Promise<void> {
  const args = input<SweepInput>();
  const counter = new RequestCounter(args.ports);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);

  const services = new AppServices(process.env);
  // Warm: the credential is read and a token fetched once, as on any instance that served before.
  await services.partnerCenter.getBatchStatus(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID);
  counter.reset();

  let warnings = 0;
  const firstWarnings: string[] = [];
  const log: Log = {
    ...silentLog,
    warn(message, properties) {
      warnings += 1;
      if (firstWarnings.length < 5) firstWarnings.push(`${message} ${JSON.stringify(properties ?? {})}`);
    },
  };

  const started = performance.now();
  let report: unknown;
  if (args.mode === 'loop') {
    // What the SDK samples do: for each tracking, await its status.
    for (const key of args.sample ?? []) {
      await services.partnerCenter.getBatchStatus(key.customerId, key.trackingId);
    }
    report = { checked: args.sample?.length ?? 0 };
  } else {
    report = await services.sweeper(log).run();
  }
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);

  await reply({
    wallMs,
    report,
    requests: counter.snapshot(),
    responseTimesMs: counter.responseTimes(),
    warnings,
    firstWarnings,
    // ru_maxrss, in kilobytes on Linux: the true peak, between samples too.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    sampledPeakRssBytes: peakRss,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
