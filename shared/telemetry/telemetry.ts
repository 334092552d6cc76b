import { describeError } from '../diagnostics/describe-error.js';
import type { InvocationScope } from './invocation-scope.js';

export type { InvocationScope, InvocationTraceContext } from './invocation-scope.js';

/** String dimensions of an item (customDimensions). `undefined` values are left out. */
export type TelemetryProperties = Readonly<Record<string, string | undefined>>;
/** Numeric measurements of a custom event (customMeasurements). */
export type TelemetryMeasurements = Readonly<Record<string, number | undefined>>;

/**
 * What the app reports beyond what the Functions host already sends (requests, invocation logs):
 * custom events, custom metrics, and the dependencies of each invocation, correlated with it.
 *
 * Every item carries the invocation's correlation id (from the scope `runInvocation` opened), so an
 * implementation needs no help from callers for that. No method ever throws: telemetry must never
 * fail the work it observes.
 */
export interface Telemetry {
  /** False for the no-op implementation (Application Insights not configured). */
  readonly enabled: boolean;
  trackEvent(name: string, properties?: TelemetryProperties, measurements?: TelemetryMeasurements): void;
  trackMetric(name: string, value: number, properties?: TelemetryProperties): void;
  /**
   * Runs one invocation's work: its outgoing calls become dependencies under the invocation's trace
   * (the host's `traceContext`), and everything reported meanwhile carries its correlation id.
   */
  runInvocation<T>(scope: InvocationScope, work: () => Promise<T>): Promise<T>;
  /** Sends what is buffered; resolves when the ingestion endpoint answered (or gave up). */
  flush(): Promise<void>;
}

/**
 * The default: reports nothing and costs nothing. It opens no invocation scope: nothing reads one
 * when telemetry is off, and on Node 22 the first AsyncLocalStorage scope turns on promise hooks
 * for the whole process, which made every lookup's promises (hundreds) slower (docs/design.md).
 */
export const noopTelemetry: Telemetry = {
  enabled: false,
  trackEvent() {},
  trackMetric() {},
  runInvocation: (_scope, work) => work(),
  flush: async () => {},
};

/**
 * The app's one Telemetry, stable from the first use: a no-op until `ready()` has started the
 * configured implementation (Application Insights when its connection string is set). Starting is
 * lazy and shared; a start that fails leaves the no-op in place and is tried again next time, so
 * a settings fix needs no restart.
 */
export class DeferredTelemetry implements Telemetry {
  private current: Telemetry = noopTelemetry;
  private starting?: Promise<Telemetry>;

  /** `start` resolves with the implementation to use; it runs at most once unless it fails. */
  constructor(private readonly start: () => Promise<Telemetry>) {}

  get enabled(): boolean {
    return this.current.enabled;
  }

  /** Starts the implementation (once) and resolves when it is in place. Never rejects. */
  ready(onFailure?: (error: unknown) => void): Promise<Telemetry> {
    this.starting ??= this.start().then(
      (telemetry) => {
        this.current = telemetry;
        return telemetry;
      },
      (error: unknown) => {
        this.starting = undefined;
        onFailure?.(error);
        return this.current;
      },
    );
    return this.starting;
  }

  trackEvent(name: string, properties?: TelemetryProperties, measurements?: TelemetryMeasurements): void {
    this.current.trackEvent(name, properties, measurements);
  }

  trackMetric(name: string, value: number, properties?: TelemetryProperties): void {
    this.current.trackMetric(name, value, properties);
  }

  async runInvocation<T>(scope: InvocationScope, work: () => Promise<T>): Promise<T> {
    const telemetry = await this.ready((error) =>
      scope.log?.warn(`Telemetry could not start and is off for now: ${describeError(error, 300)}`),
    );
    return telemetry.runInvocation(scope, work);
  }

  flush(): Promise<void> {
    return this.current.flush();
  }
}
