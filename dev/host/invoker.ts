import { performance } from 'node:perf_hooks';
import { format } from 'node:util';
import azureFunctions, { type EffectiveFunctionOptions } from '@azure/functions';
import type { HostClock } from './clock.js';
import type { CoreBindingInfo, FunctionRegistry, RegisteredFunction } from './functions-core.js';
import type { HostLogger, LogLevel } from './host-log.js';

// Default import: Node's CommonJS export detection misses the classes of @azure/functions.
const { InvocationContext } = azureFunctions;
type InvocationContext = InstanceType<typeof InvocationContext>;

export class InvocationFailedError extends Error {
  override name = 'InvocationFailedError';
  constructor(
    readonly invocationId: string,
    override readonly cause: unknown,
  ) {
    super(`Invocation ${invocationId} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export interface InvocationRequest {
  fn: RegisteredFunction;
  invocationId: string;
  /** The trigger input (HttpRequest, Timer, queue item, …): the handler's first argument. */
  triggerInput: unknown;
  /** `context.triggerMetadata` (a queue message's id, dequeueCount, …). */
  triggerMetadata?: Record<string, unknown>;
  /** Shown in the "Executing" line, like the Functions host's Reason=. */
  reason: string;
  /** Called once the handler has been called (or the invocation ended before that). */
  onStarted?: () => void;
  /** Called when the invocation is over, just before its "Executed" line is logged. */
  onFinished?: () => void;
}

/**
 * Runs one invocation the way the Node.js worker does: a real InvocationContext, preInvocation
 * hooks (which may replace inputs or the handler), the handler, postInvocation hooks (which may
 * replace the result or clear the error), with "Executing"/"Executed" lines like the host's.
 */
export class FunctionInvoker {
  readonly #registry: FunctionRegistry;
  readonly #logger: HostLogger;
  readonly #clock: HostClock;
  readonly #appHookData: Record<string, unknown>;

  constructor(
    registry: FunctionRegistry,
    logger: HostLogger,
    clock: HostClock,
    appHookData: Record<string, unknown>,
  ) {
    this.#registry = registry;
    this.#logger = logger;
    this.#clock = clock;
    this.#appHookData = appHookData;
  }

  /** Resolves with the (post-hook) result; rejects with {@link InvocationFailedError}. */
  async invoke(request: InvocationRequest): Promise<unknown> {
    const { fn, invocationId } = request;
    let started = false;
    const markStarted = () => {
      if (started) return;
      started = true;
      request.onStarted?.();
    };
    let finished = false;
    const log = (level: LogLevel, category: 'host' | 'system' | 'user', message: string) =>
      this.#logger({
        time: this.#clock.now(),
        level,
        category,
        functionName: fn.name,
        invocationId,
        message,
      });

    const context = new InvocationContext({
      invocationId,
      functionName: fn.name,
      options: toEffectiveOptions(fn.metadata.bindings),
      ...(request.triggerMetadata ? { triggerMetadata: request.triggerMetadata } : {}),
      logHandler: (level, ...args) => {
        if (finished) {
          log(
            'warning',
            'system',
            "Unexpected call to 'log' on the context object after function execution has completed. " +
              'Please check for asynchronous calls that are not awaited.',
          );
        }
        this.#userLog(context, level, format(...args), log);
      },
    });

    log(
      'information',
      'host',
      `Executing 'Functions.${fn.name}' (Reason='${request.reason}', Id=${invocationId})`,
    );
    const startedAt = performance.now();
    const hookData: Record<string, unknown> = {};
    const pre: Record<string, unknown> = {
      hookData,
      appHookData: this.#appHookData,
      invocationContext: context,
      inputs: [request.triggerInput],
      functionCallback: fn.handler,
    };
    let result: unknown;
    let error: unknown;
    try {
      for (const hook of this.#registry.hooks('preInvocation')) await hook(pre);
      const inputs = Array.isArray(pre.inputs) ? pre.inputs : [];
      const callback = pre.functionCallback as (...args: unknown[]) => unknown;
      const pending = callback(...inputs, context);
      markStarted();
      result = await pending;
    } catch (caught) {
      error = caught ?? new Error('The function failed without an error value.');
    } finally {
      finished = true;
      markStarted();
    }

    const post: Record<string, unknown> = {
      hookData,
      appHookData: this.#appHookData,
      invocationContext: context,
      inputs: pre.inputs,
      result,
      error,
    };
    try {
      for (const hook of this.#registry.hooks('postInvocation')) await hook(post);
    } catch (caught) {
      post.error = caught;
    }

    const duration = Math.round(performance.now() - startedAt);
    request.onFinished?.();
    if (post.error !== undefined && post.error !== null) {
      const failure = post.error;
      const detail = failure instanceof Error ? (failure.stack ?? failure.message) : format(failure);
      log(
        'error',
        'host',
        `Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${duration}ms) ${detail}`,
      );
      throw new InvocationFailedError(invocationId, failure);
    }
    log(
      'information',
      'host',
      `Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${duration}ms)`,
    );
    return post.result;
  }

  #userLog(
    context: InvocationContext,
    level: LogLevel,
    message: string,
    log: (level: LogLevel, category: 'user', message: string) => void,
  ): void {
    // Log hooks may rewrite the level or message, as in the worker.
    const hookContext: Record<string, unknown> = {
      hookData: {},
      appHookData: this.#appHookData,
      level,
      message,
      category: 'user',
      invocationContext: context,
    };
    for (const hook of this.#registry.hooks('log')) {
      try {
        hook(hookContext);
      } catch {
        // A failing log hook must not break the function's logging.
      }
    }
    log(hookContext.level as LogLevel, 'user', String(hookContext.message));
  }
}

/** The same split of bindings that @azure/functions' fromRpcBindings makes for `context.options`. */
function toEffectiveOptions(bindings: Record<string, CoreBindingInfo>): Partial<EffectiveFunctionOptions> {
  const options: Partial<EffectiveFunctionOptions> = { extraInputs: [], extraOutputs: [] };
  for (const [name, binding] of Object.entries(bindings)) {
    const entry = { ...binding, type: String(binding.type), name };
    if (/trigger$/i.test(entry.type)) options.trigger = entry;
    else if (name === '$return') options.return = entry;
    else if (binding.direction === 'in') options.extraInputs?.push(entry);
    else if (binding.direction === 'out') options.extraOutputs?.push(entry);
  }
  return options;
}
