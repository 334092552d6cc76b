import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import type { TokenCredential } from '@azure/core-auth';
// Types only: this import vanishes at compile time. The package is loaded by
// startApplicationInsights() alone, so an app without a connection string never pays for it.
import type { AzureMonitorOpenTelemetryOptions, TelemetryClient } from 'applicationinsights';
import { currentInvocation, type InvocationScope, runInInvocationScope } from './invocation-scope.js';
import type { Telemetry, TelemetryMeasurements, TelemetryProperties } from './telemetry.js';

export interface ApplicationInsightsOptions {
  connectionString: string;
  /**
   * Entra ID credential for the ingestion endpoint: required when the resource has local
   * authentication disabled (APPLICATIONINSIGHTS_AUTHENTICATION_STRING, and always in Azure here).
   */
  credential?: TokenCredential;
  /** Longest `flush()` waits for the ingestion endpoint. Default 10 s. */
  flushTimeoutMs?: number;
}

type SpanProcessor = NonNullable<AzureMonitorOpenTelemetryOptions['spanProcessors']>[number];

/**
 * The part of @opentelemetry/api used here. It is taken at runtime from the SDK's own copy (the one
 * it registered its context manager and tracer provider with), not from a dependency of the app.
 */
interface OpenTelemetryApi {
  ROOT_CONTEXT: OtelContext;
  SpanKind: { SERVER: number };
  SpanStatusCode: { ERROR: number };
  context: { with<T>(context: OtelContext, work: () => T): T };
  propagation: { extract(context: OtelContext, carrier: Record<string, string>): OtelContext };
  trace: {
    getTracer(name: string): OtelTracer;
    getSpanContext(context: OtelContext): OtelSpanContext | undefined;
  };
  isSpanContextValid(spanContext: OtelSpanContext): boolean;
}
/** Opaque to this module. */
type OtelContext = object;
interface OtelSpanContext {
  traceId: string;
  spanId: string;
}
interface OtelSpan {
  setStatus(status: { code: number }): unknown;
  end(): void;
}
interface OtelTracer {
  startActiveSpan<T>(
    name: string,
    options: { kind: number; attributes?: Record<string, string> },
    context: OtelContext,
    work: (span: OtelSpan) => T,
  ): T;
}

const TRACER_NAME = 'device-batch-status';

/**
 * Starts the `applicationinsights` 3.x client (the Azure Monitor OpenTelemetry distro underneath)
 * and returns a Telemetry on it. Loads ~0.3-0.7 s of modules: call it only when a connection string
 * is configured (composition does), never at module load.
 *
 * Choices, each for a reason:
 * - Outgoing calls are collected through the Azure SDK instrumentation (@azure/core-tracing), not
 *   by patching `http`: this app is ESM and has loaded `node:https` long before telemetry starts,
 *   which the require-hook based http instrumentation cannot see. Every client here (Key Vault,
 *   Entra ID, Table and Blob storage, and Partner Center through its `tracingPolicy`) goes through
 *   an Azure core pipeline, so each call is a dependency either way.
 * - Live metrics, performance counters, standard metrics and exception auto-collection are off:
 *   the Functions host already reports the process and the invocations, and an
 *   `uncaughtException` handler must not change how the worker fails.
 * - No sampling by default (every trace kept): the app's volume is small. Operators can still
 *   sample with `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`, which the distro honours.
 */
export async function startApplicationInsights(options: ApplicationInsightsOptions): Promise<Telemetry> {
  const imported = (await import('applicationinsights')) as typeof import('applicationinsights') & {
    default?: typeof import('applicationinsights');
  };
  const { TelemetryClient: Client } = imported.default ?? imported;
  // Resolved from applicationinsights itself: the very copies its SDK registered with.
  const requireFromSdk = createRequire(createRequire(import.meta.url).resolve('applicationinsights'));
  const api = requireFromSdk('@opentelemetry/api') as OpenTelemetryApi;
  disableAzureVmProbe(requireFromSdk);

  const client = new Client(options.connectionString);
  client.config.azureMonitorOpenTelemetryOptions = {
    azureMonitorExporterOptions: {
      connectionString: options.connectionString,
      ...(options.credential ? { credential: options.credential } : {}),
    },
    enableLiveMetrics: false,
    enablePerformanceCounters: false,
    enableStandardMetrics: false,
    enableAutoCollectExceptions: false,
    enableAutoCollectPerformance: false,
    samplingRatio: 1,
    tracesPerSecond: 0,
    instrumentationOptions: {
      http: { enabled: false },
      azureSdk: { enabled: true },
      mongoDb: { enabled: false },
      mySql: { enabled: false },
      postgreSql: { enabled: false },
      redis: { enabled: false },
      redis4: { enabled: false },
      bunyan: { enabled: false },
      winston: { enabled: false },
    },
    spanProcessors: [correlationSpanProcessor()],
  };
  client.initialize();
  instrumentAzureSdk(requireFromSdk);
  return new ApplicationInsightsTelemetry(client, api, options.flushTimeoutMs ?? 10_000);
}

class ApplicationInsightsTelemetry implements Telemetry {
  readonly enabled = true;
  private readonly tracer: OtelTracer;

  constructor(
    private readonly client: TelemetryClient,
    private readonly api: OpenTelemetryApi,
    private readonly flushTimeoutMs: number,
  ) {
    this.tracer = api.trace.getTracer(TRACER_NAME);
  }

  trackEvent(name: string, properties?: TelemetryProperties, measurements?: TelemetryMeasurements): void {
    try {
      this.client.trackEvent({
        name,
        properties: withInvocation(properties),
        measurements: definedNumbers(measurements),
      });
    } catch {
      // Telemetry never fails the work it observes.
    }
  }

  trackMetric(name: string, value: number, properties?: TelemetryProperties): void {
    if (!Number.isFinite(value)) return;
    try {
      this.client.trackMetric({ name, value, properties: withInvocation(properties) });
    } catch {
      // Telemetry never fails the work it observes.
    }
  }

  runInvocation<T>(scope: InvocationScope, work: () => Promise<T>): Promise<T> {
    return runInInvocationScope(scope, () => {
      const { api } = this;
      const parent = this.parentOf(scope);
      // In Azure the host already reports the invocation as a request under this trace context:
      // the app's items join it. Without one (local host, tests) the invocation opens its own trace.
      if (parent) return api.context.with(parent, work);
      return this.tracer.startActiveSpan(
        scope.functionName ?? 'invocation',
        {
          kind: api.SpanKind.SERVER,
          attributes: definedStrings({
            correlationId: scope.correlationId,
            invocationId: scope.invocationId,
          }),
        },
        api.ROOT_CONTEXT,
        async (span) => {
          try {
            return await work();
          } catch (error) {
            span.setStatus({ code: api.SpanStatusCode.ERROR });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    });
  }

  async flush(): Promise<void> {
    const timeout = new AbortController();
    try {
      await Promise.race([
        this.client.flush(),
        delay(this.flushTimeoutMs, undefined, { signal: timeout.signal, ref: false }).catch(() => {}),
      ]);
    } catch {
      // Telemetry never fails the work it observes.
    } finally {
      timeout.abort();
    }
  }

  private parentOf(scope: InvocationScope): OtelContext | undefined {
    const traceParent = scope.traceContext?.traceParent;
    if (!traceParent) return undefined;
    const { api } = this;
    const carrier: Record<string, string> = { traceparent: traceParent };
    if (scope.traceContext?.traceState) carrier.tracestate = scope.traceContext.traceState;
    const context = api.propagation.extract(api.ROOT_CONTEXT, carrier);
    const parent = api.trace.getSpanContext(context);
    return parent && api.isSpanContextValid(parent) ? context : undefined;
  }
}

/** The invocation's correlation id (and invocation id) on every span, and on the exceptions they record. */
function correlationSpanProcessor(): SpanProcessor {
  return {
    onStart(span) {
      const scope = currentInvocation();
      if (!scope) return;
      span.setAttribute('correlationId', scope.correlationId);
      if (scope.invocationId) span.setAttribute('invocationId', scope.invocationId);
    },
    onEnd(span) {
      const correlationId = span.attributes.correlationId;
      if (typeof correlationId !== 'string') return;
      // Exceptions recorded on a span become items of their own, with the event's attributes only.
      for (const event of span.events as { name: string; attributes?: Record<string, unknown> }[]) {
        if (event.name === 'exception') event.attributes = { ...event.attributes, correlationId };
      }
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

/**
 * The Azure SDK instrumentation sets @azure/core-tracing's instrumenter when that module is
 * required after the SDK started (a require hook). Here it was loaded long before, as ESM, by the
 * app's clients: requiring it once more lets the hook run. The instrumenter lives in state shared
 * by the ESM and CommonJS builds, so the app's clients trace from now on.
 */
function instrumentAzureSdk(requireFromSdk: NodeJS.Require): void {
  try {
    requireFromSdk('@azure/core-tracing');
  } catch {
    // Not resolvable from here: dependencies are then not collected, events and metrics still are.
  }
}

/**
 * The distro always runs the Azure VM resource detector, which asks the instance metadata service
 * at 169.254.169.254. A function app is never an Azure VM, and off Azure that probe would leave
 * the machine (and wait for a timeout): answer "not a VM" without asking.
 */
function disableAzureVmProbe(requireFromSdk: NodeJS.Require): void {
  try {
    const distro = createRequire(requireFromSdk.resolve('@azure/monitor-opentelemetry'));
    const detectors = distro('@opentelemetry/resource-detector-azure') as {
      azureVmDetector?: { detect: () => { attributes: Record<string, never> } };
    };
    if (detectors.azureVmDetector) detectors.azureVmDetector.detect = () => ({ attributes: {} });
  } catch {
    // Another layout of the distro: the probe then runs and fails quietly, as it always did.
  }
}

/** Adds the running invocation's correlation id (unless given) and invocation id to an item's properties. */
function withInvocation(properties: TelemetryProperties | undefined): Record<string, string> {
  const scope = currentInvocation();
  return definedStrings({
    ...properties,
    correlationId: properties?.correlationId ?? scope?.correlationId,
    invocationId: properties?.invocationId ?? scope?.invocationId,
  });
}

function definedStrings(values: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined));
}

function definedNumbers(values: TelemetryMeasurements | undefined): Record<string, number> {
  return Object.fromEntries(
    Object.entries(values ?? {}).filter((e): e is [string, number] => Number.isFinite(e[1])),
  );
}
