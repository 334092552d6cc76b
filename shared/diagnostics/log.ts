/** Extra fields of a log line, written as `key=value`; `undefined` ones are left out. */
export type LogProperties = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * The one logger the domain writes to. In a function it is the invocation's log, correlated
 * (`correlatedLog` in shared/telemetry/invocation-log.ts, the one adapter of InvocationContext).
 */
export interface Log {
  info(message: string, properties?: LogProperties): void;
  warn(message: string, properties?: LogProperties): void;
  error(message: string, properties?: LogProperties): void;
}

/** A Log that drops everything: for code run outside an invocation, such as benchmarks. */
export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {} };
