import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { installFunctionsCore } from '../../dev/host/functions-core.js';
import { closedLoop, expectOk, get, keepAliveAgent, ownCpuMs } from '../load.js';
import { input, reply } from '../processes.js';
import type { HandlerLoadInput } from './handler-load.js';
import { lookupInvocation } from './lookup-invocation.js';

/**
 * P1, where a lookup's CPU goes: the same upstream call made through each layer of the app in
 * turn, in one process, rounds interleaved so that every layer sees the same machine. Each layer
 * adds one thing to the one before it: the SDK's HTTP client, the Partner Center pipeline and
 * client, the lookup (caches, write-through), the endpoint with the programming model's objects.
 */

export type Layer = 'bareGet' | 'sdkHttpClient' | 'partnerCenterClient' | 'lookup' | 'handler';

async function main(): Promise<void> {
  const args = input<HandlerLoadInput>();
  installFunctionsCore();
  const { getBatchStatus } = await import('../../functions/getBatchStatus.js');
  const { services } = await import('../../shared/app.js');
  const app = services();

  const url = `${args.partnerCenterUrl}/v1/customers/${args.customerId}/batchJobStatus/${args.trackingId}`;
  const headers = { Authorization: `Bearer ${args.token}`, Accept: 'application/json' };
  const agent = keepAliveAgent(true, args.concurrency);
  const httpClient = createDefaultHttpClient();
  const layers: Record<Layer, () => Promise<void>> = {
    bareGet: async () => expectOk(await get(url, { agent, headers }), 'Partner Center simulator'),
    sdkHttpClient: async () => {
      const request = createPipelineRequest({ url, headers: createHttpHeaders(headers) });
      const response = await httpClient.sendRequest(request);
      if (response.status !== 200) throw new Error(`the SDK's HTTP client got ${response.status}`);
    },
    partnerCenterClient: async () => {
      await app.partnerCenter.getBatchStatus(args.customerId, args.trackingId);
    },
    lookup: async () => {
      await app.batchStatusLookup.lookup(args.customerId, args.trackingId);
    },
    handler: async () => {
      const { request, context } = lookupInvocation(args);
      const response = await getBatchStatus(request, context);
      if ((response.status ?? 200) !== 200) throw new Error(`getBatchStatus answered ${response.status}`);
    },
  };
  const names = Object.keys(layers) as Layer[];
  for (const name of names)
    await closedLoop({ concurrency: args.concurrency, total: args.warmup }, layers[name]);
  const cpuMs = Object.fromEntries(names.map((name) => [name, 0])) as Record<Layer, number>;
  const calls = Object.fromEntries(names.map((name) => [name, 0])) as Record<Layer, number>;
  const perRound = Math.ceil(args.requests / args.rounds);
  for (let round = 0; round < args.rounds; round++) {
    for (const name of names) {
      const before = ownCpuMs();
      await closedLoop({ concurrency: args.concurrency, total: perRound }, layers[name]);
      cpuMs[name] += ownCpuMs() - before;
      calls[name] += perRound;
    }
  }
  agent.destroy();
  await reply({ cpuMs, calls });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
