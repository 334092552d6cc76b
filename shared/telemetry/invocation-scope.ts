import { AsyncLocalStorage } from 'node:async_hooks';
import type { Log } from '../diagnostics/log.js';

/** The W3C trace context the Functions host hands each invocation (`InvocationContext.traceContext`). */
export interface InvocationTraceContext {
  traceParent?: string | undefined;
  traceState?: string | undefined;
}

/** One invocation, as telemetry needs to know it. */
export interface InvocationScope {
  correlationId: string;
  invocationId?: string;
  functionName?: string;
  /** Absent outside the Functions host (local host, tests): the invocation then starts its own trace. */
  traceContext?: InvocationTraceContext;
  /** The invocation's log: where telemetry says that it could not start, and a write-through that failed. */
  log?: Log;
}

const scopes = new AsyncLocalStorage<InvocationScope>();

/** Runs `work` with `scope` as the current invocation, across every await inside it. */
export function runInInvocationScope<T>(scope: InvocationScope, work: () => Promise<T>): Promise<T> {
  return scopes.run(scope, work);
}

/** The invocation whose work is running, if any. */
export function currentInvocation(): InvocationScope | undefined {
  return scopes.getStore();
}
