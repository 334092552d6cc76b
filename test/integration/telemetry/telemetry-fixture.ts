import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { InvocationContext, Timer } from '@azure/functions';
import type { TelemetryEnvelope } from '../../../dev/simulators/ingestion.js';
import {
  type CapturedLog,
  HOST_URL,
  type HttpHandler,
  invocationContext,
  invokeRequest,
} from '../../support/invoke.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']);

/**
 * Records the destination of every TCP connection this process opens (HTTP agents, TLS, anything
 * built on net.Socket), so a test can prove that nothing left the machine.
 */
export function recordConnections(): { destinations: string[]; nonLoopback(): string[]; restore(): void } {
  const destinations: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    if (typeof first === 'object' && first !== null) {
      const options = first as { host?: string; path?: string };
      destinations.push(options.path ? `pipe:${options.path}` : (options.host ?? 'localhost'));
    } else if (typeof first === 'number') {
      destinations.push(typeof args[1] === 'string' ? args[1] : 'localhost');
    } else if (typeof first === 'string') {
      destinations.push(`pipe:${first}`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  return {
    destinations,
    nonLoopback: () => destinations.filter((d) => !d.startsWith('pipe:') && !LOOPBACK.has(d)),
    restore: () => {
      net.Socket.prototype.connect = original;
    },
  };
}

/** A W3C trace context as the Functions host hands it to an invocation. */
export function hostTraceContext(): { traceParent: string; traceId: string; parentSpanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentSpanId = randomBytes(8).toString('hex');
  return { traceParent: `00-${traceId}-${parentSpanId}-01`, traceId, parentSpanId };
}

export type Logged = CapturedLog;

/** Calls an HTTP function as the host does, with the host's trace context on the InvocationContext. */
export async function invokeHttpTraced(
  handler: HttpHandler,
  spec: {
    functionName: string;
    method?: string;
    url: string;
    params?: Record<string, string>;
    body?: unknown;
  },
  traceParent: string,
) {
  const url = new URL(spec.url, HOST_URL);
  const response = await invokeRequest(
    handler,
    {
      method: spec.method ?? 'GET',
      url: url.toString(),
      params: spec.params,
      headers: spec.body === undefined ? {} : { 'content-type': 'application/json' },
      query: Object.fromEntries(url.searchParams),
      body: spec.body === undefined ? undefined : { string: JSON.stringify(spec.body) },
    },
    spec.functionName,
    traceParent,
  );
  return { response, logs: response.logs, correlationId: response.headers.get('MS-CorrelationId') };
}

/** Runs a timer function as the host does on its schedule. */
export async function invokeTimer(
  handler: (timer: Timer, context: InvocationContext) => Promise<void>,
  functionName: string,
  traceParent: string | undefined,
): Promise<Logged[]> {
  const logs: Logged[] = [];
  const timer: Timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: '', next: '', lastUpdated: '' },
  };
  await handler(timer, invocationContext(functionName, logs, traceParent));
  return logs;
}

/** An envelope's custom dimensions (properties), whatever its type. */
export function propertiesOf(envelope: TelemetryEnvelope): Record<string, string> {
  return (envelope.data?.baseData?.properties as Record<string, string> | undefined) ?? {};
}

export function measurementsOf(envelope: TelemetryEnvelope): Record<string, number> {
  return (envelope.data?.baseData?.measurements as Record<string, number> | undefined) ?? {};
}

/** Value of the first metric named `name` in a metric envelope. */
export function metricValue(envelope: TelemetryEnvelope, name: string): number | undefined {
  const metrics = (envelope.data?.baseData?.metrics as { name: string; value: number }[] | undefined) ?? [];
  return metrics.find((m) => m.name === name)?.value;
}
