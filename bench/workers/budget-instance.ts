import { setTimeout as delay } from 'node:timers/promises';
import { DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID } from '../../dev/simulators/partner-center.js';
import { AppServices } from '../../shared/composition.js';
import { isPartnerCenterError } from '../../shared/partner-center/errors.js';
import { input, ready, reply } from '../processes.js';

/**
 * P8: one app instance sharing Partner Center's budget. It warms up (credential, token), says it
 * is ready, and on SIGUSR2 (all instances at once) sweeps until nothing is due; the one that has `tool` also makes one
 * lookup a second throughout, through the same lookup path (and budget) as the HTTP function.
 */
interface BudgetInstanceInput {
  tool?: { customerId: string; trackingId: string };
}

async function main(): Promise<void> {
  const args = input<BudgetInstanceInput>();
  const services = new AppServices(process.env);
  await services.partnerCenter.getBatchStatus(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID);
  // A signal listener alone does not keep the process alive.
  const keepAlive = setInterval(() => {}, 1000);
  const go = new Promise((resolve) => process.once('SIGUSR2', resolve));
  ready({ pid: process.pid });
  await go;
  clearInterval(keepAlive);

  const tool: { at: number; status: number; ms: number }[] = [];
  let sweeping = true;
  const toolLoop = (async () => {
    if (!args.tool) return;
    for (let next = Date.now(); sweeping; next += 1000) {
      await delay(Math.max(0, next - Date.now()));
      const started = performance.now();
      const status = await services.batchStatusLookup
        .lookup(args.tool.customerId, args.tool.trackingId)
        .then(() => 200)
        .catch((error: unknown) =>
          isPartnerCenterError(error) ? (error.failure === 'throttled' ? 503 : 502) : 500,
        );
      tool.push({ at: Date.now(), status, ms: performance.now() - started });
    }
  })();

  const reports: unknown[] = [];
  const started = Date.now();
  for (;;) {
    const report = await services.sweeper().run();
    reports.push(report);
    if (report.claimed === 0 && !report.stoppedEarly) break;
  }
  const sweepDoneAt = Date.now();
  sweeping = false;
  await toolLoop;
  await reply({
    sweepMs: sweepDoneAt - started,
    sweepDoneAt,
    reports,
    tool,
    finalRatePerMinute: services.partnerBudget.callsPerMinute,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
