import { randomUUID } from 'node:crypto';
import type { Log, LogProperties } from '../diagnostics/log.js';
import type { InvocationScope, InvocationTraceContext } from './invocation-scope.js';

/**
 * The Functions InvocationContext as far as the domain reads it: the host's log methods (the host
 * adds the invocation id to each line) and the invocation's facts. InvocationContext fits as is.
 */
export interface HostInvocation {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  readonly invocationId?: string;
  readonly functionName?: string;
  /** The host's W3C trace context for this invocation (absent outside Azure). */
  readonly traceContext?: InvocationTraceContext;
}

/** An invocation as telemetry and the domain see it: its scope, with its correlated log. */
export type CorrelatedInvocation = InvocationScope & { readonly log: Log };

/**
 * The one adapter from InvocationContext to the domain's {@link Log}: one line per entry,
 * `message key=value … correlationId=…`, what a person greps for and what Application Insights'
 * traces table shows whole (the host adds the invocation id as a dimension). Values with spaces
 * or quotes are JSON-quoted so a line always splits back into its fields.
 */
export function correlatedLog(host: HostInvocation, correlationId: string): Log {
  const line = (message: string, properties?: LogProperties) =>
    [message, ...formatProperties({ ...properties, correlationId })].join(' ');
  return {
    info: (message, properties) => host.log(line(message, properties)),
    warn: (message, properties) => host.warn(line(message, properties)),
    error: (message, properties) => host.error(line(message, properties)),
  };
}

/** The scope of one invocation (a new correlation id unless the caller sent one) and its log. */
export function correlatedInvocation(
  host: HostInvocation,
  correlationId: string = randomUUID(),
): CorrelatedInvocation {
  const { invocationId, functionName, traceContext } = host;
  return { correlationId, invocationId, functionName, traceContext, log: correlatedLog(host, correlationId) };
}

function formatProperties(properties: LogProperties): string[] {
  return Object.entries(properties)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => {
      const text = String(value).replace(/[\r\n]+/g, ' ');
      return `${key}=${/[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text}`;
    });
}
