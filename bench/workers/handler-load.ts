import { installFunctionsCore } from '../../dev/host/functions-core.js';
import { closedLoop, expectOk, get, keepAliveAgent, ownCpuMs, summarize } from '../load.js';
import { input, reply } from '../processes.js';
import { lookupInvocation } from './lookup-invocation.js';

/**
 * P1, in process: the getBatchStatus handler called directly (real HttpRequest and
 * InvocationContext, no HTTP host in front), against a direct GET to the simulator from the same
 * process, interleaved so that both see the same machine; with this process's CPU time for each.
 */

export interface HandlerLoadInput {
  customerId: string;
  trackingId: string;
  partnerCenterUrl: string;
  token: string;
  concurrency: number;
  requests: number;
  warmup: number;
  rounds: number;
}

async function main(): Promise<void> {
  const args = input<HandlerLoadInput>();
  // The Functions worker provides @azure/functions-core; without it @azure/functions runs in "test mode".
  installFunctionsCore();
  const { getBatchStatus } = await import('../../functions/getBatchStatus.js');

  const agent = keepAliveAgent(true, args.concurrency);
  const directUrl = `${args.partnerCenterUrl}/v1/customers/${args.customerId}/batchJobStatus/${args.trackingId}`;
  const headers = { Authorization: `Bearer ${args.token}`, Accept: 'application/json' };
  const direct = async () => expectOk(await get(directUrl, { agent, headers }), 'Partner Center simulator');
  const handler = async () => {
    const { request, context } = lookupInvocation(args);
    const response = await getBatchStatus(request, context);
    if ((response.status ?? 200) !== 200) {
      throw new Error(`getBatchStatus answered ${response.status}: ${String(response.body ?? '')}`);
    }
  };

  await closedLoop({ concurrency: args.concurrency, total: args.warmup }, direct);
  await closedLoop({ concurrency: args.concurrency, total: args.warmup }, handler);
  const samples = { direct: [] as number[], handler: [] as number[] };
  const wall = { direct: 0, handler: 0 };
  // This process's CPU during each kind's runs: the handler's cost per lookup against a bare GET's.
  const cpuMs = { direct: 0, handler: 0 };
  const perRound = Math.ceil(args.requests / args.rounds);
  for (let round = 0; round < args.rounds; round++) {
    for (const [kind, send] of [
      ['direct', direct],
      ['handler', handler],
    ] as const) {
      const cpuBefore = ownCpuMs();
      const run = await closedLoop({ concurrency: args.concurrency, total: perRound }, send);
      cpuMs[kind] += ownCpuMs() - cpuBefore;
      samples[kind].push(...run.latenciesMs);
      wall[kind] += run.wallMs;
    }
  }
  await reply({
    direct: summarize(samples.direct, wall.direct),
    handler: summarize(samples.handler, wall.handler),
    cpuMs,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
