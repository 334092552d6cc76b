import { randomUUID } from 'node:crypto';
import Module from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStreamLogger, type HostLogger, type LogLevel } from './host-log.js';

/**
 * The in-process stand-in for `@azure/functions-core`, the module the Azure Functions Node.js
 * worker provides. @azure/functions hands every `app.http`/`app.timer`/`app.generic`/`app.hook.*`
 * registration to it, so the local host serves exactly what the Functions host would receive.
 * Shapes follow the worker's `types-core/index.d.ts`.
 */

export type AuthLevel = 'anonymous' | 'function' | 'admin';
export type LogCategory = 'user' | 'system' | 'customMetric';
export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';

/** A binding as @azure/functions' `toCoreFunctionMetadata` produces it (the trigger options plus type/name/direction). */
export interface CoreBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  name?: string;
  [property: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, CoreBindingInfo>;
  retryOptions?: unknown;
  [property: string]: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

/** Hook contexts are plain objects; @azure/functions wraps them in its own `*Context` classes. */
export type HookContextInit = Record<string, unknown>;
export type HookCallback = (context: HookContextInit) => unknown;

/** Same contract as the worker's `Disposable`. */
export class Disposable {
  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const disposable of disposables) disposable.dispose();
    });
  }

  #callOnDispose: (() => unknown) | undefined;

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): unknown {
    const callOnDispose = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return callOnDispose?.();
  }
}

interface RegisteredFunctionBase {
  /** The function name, unique (case-insensitively, as in Functions) within the app. */
  name: string;
  /** Exactly what @azure/functions passed to `registerFunction`. */
  metadata: CoreFunctionMetadata;
  triggerBindingName: string;
  /** The raw trigger binding (a reference into `metadata.bindings`). */
  trigger: CoreBindingInfo;
  /** e.g. `httpTrigger`, `timerTrigger`, `queueTrigger`. */
  triggerType: string;
  /** The app's own handler: `(request, context)`, `(timer, context)`, … */
  handler: FunctionCallback;
}

export interface HttpFunctionRegistration extends RegisteredFunctionBase {
  kind: 'http';
  /** The route as registered; `undefined` means the function name (see `effectiveRoute`). */
  route: string | undefined;
  effectiveRoute: string;
  /** Upper-case; empty means every method. */
  methods: string[];
  authLevel: AuthLevel;
}

export interface TimerFunctionRegistration extends RegisteredFunctionBase {
  kind: 'timer';
  /** As registered, before `%SETTING%` references are resolved. */
  schedule: string;
  runOnStartup: boolean;
  useMonitor: boolean | undefined;
}

export interface QueueFunctionRegistration extends RegisteredFunctionBase {
  kind: 'queue';
  /** As registered, before `%SETTING%` references are resolved. */
  queueName: string;
  /** The app setting (prefix) naming the storage connection; empty means `AzureWebJobsStorage`. */
  connection: string;
}

export interface OtherFunctionRegistration extends RegisteredFunctionBase {
  kind: 'other';
}

export type RegisteredFunction =
  | HttpFunctionRegistration
  | TimerFunctionRegistration
  | QueueFunctionRegistration
  | OtherFunctionRegistration;

/** The module object `require('@azure/functions-core')` returns. */
export interface FunctionsCoreApi {
  readonly version: string;
  readonly hostVersion: string;
  registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable;
  registerHook(hookName: string, callback: HookCallback): Disposable;
  setProgrammingModel(programmingModel: unknown): void;
  getProgrammingModel(): unknown;
  log(level: LogLevel, category: LogCategory, message: string): void;
  Disposable: typeof Disposable;
}

const HOOK_NAMES: readonly HookName[] = [
  'appStart',
  'appTerminate',
  'preInvocation',
  'postInvocation',
  'log',
];

/** Records what the app registers; the local host reads it. */
export class FunctionRegistry {
  readonly #functions: RegisteredFunction[] = [];
  readonly #hooks = new Map<HookName, HookCallback[]>(HOOK_NAMES.map((name) => [name, []]));
  #programmingModel: unknown;
  #systemLogger: HostLogger = createStreamLogger();

  /** Passed to the library as the `@azure/functions-core` module. */
  readonly coreApi: FunctionsCoreApi;

  constructor() {
    this.coreApi = {
      version: 'local-host',
      hostVersion: '4.0.0-local',
      registerFunction: (metadata, callback) => this.#registerFunction(metadata, callback),
      registerHook: (hookName, callback) => this.#registerHook(hookName, callback),
      setProgrammingModel: (programmingModel) => {
        this.#programmingModel = programmingModel;
      },
      getProgrammingModel: () => this.#programmingModel,
      log: (level, _category, message) =>
        this.#systemLogger({ time: new Date(), level, category: 'system', message }),
      Disposable,
    };
  }

  /** In registration order. */
  get functions(): readonly RegisteredFunction[] {
    return this.#functions;
  }

  /** Case-insensitive, like function names in Functions. */
  get(name: string): RegisteredFunction | undefined {
    const wanted = name.toLowerCase();
    return this.#functions.find((fn) => fn.name.toLowerCase() === wanted);
  }

  hooks(name: HookName): readonly HookCallback[] {
    return [...(this.#hooks.get(name) ?? [])];
  }

  get programmingModel(): unknown {
    return this.#programmingModel;
  }

  /** Where `coreApi.log` (the library's own messages) goes; stdout until a host takes over. */
  setSystemLogger(logger: HostLogger): void {
    this.#systemLogger = logger;
  }

  #registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
    const fn = toRegisteredFunction(metadata, callback);
    if (this.get(fn.name)) {
      throw new Error(`A function named "${fn.name}" is already registered (names are case-insensitive).`);
    }
    this.#functions.push(fn);
    return new Disposable(() => {
      const index = this.#functions.indexOf(fn);
      if (index >= 0) this.#functions.splice(index, 1);
    });
  }

  #registerHook(hookName: string, callback: HookCallback): Disposable {
    const hooks = this.#hooks.get(hookName as HookName);
    if (!hooks) {
      // Same error type the worker throws; @azure/functions looks for a RangeError.
      throw new RangeError(`Unrecognized hook "${hookName}".`);
    }
    hooks.push(callback);
    return new Disposable(() => {
      const index = hooks.indexOf(callback);
      if (index >= 0) hooks.splice(index, 1);
    });
  }
}

function toRegisteredFunction(metadata: CoreFunctionMetadata, handler: FunctionCallback): RegisteredFunction {
  const name = metadata.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new Error('A function registration has no name.');
  }
  if (typeof handler !== 'function') {
    throw new Error(`Function "${name}" was registered without a handler.`);
  }
  const triggerEntry = Object.entries(metadata.bindings ?? {}).find(([, binding]) =>
    /trigger$/i.test(binding.type ?? ''),
  );
  if (!triggerEntry) {
    throw new Error(`Function "${name}" has no trigger binding.`);
  }
  const [triggerBindingName, trigger] = triggerEntry;
  const triggerType = String(trigger.type);
  const base = { name, metadata, triggerBindingName, trigger, triggerType, handler };

  switch (triggerType.toLowerCase()) {
    case 'httptrigger': {
      const route = typeof trigger.route === 'string' ? trigger.route : undefined;
      const methods = Array.isArray(trigger.methods)
        ? trigger.methods.map((m) => String(m).toUpperCase())
        : [];
      const authLevel = String(trigger.authLevel ?? 'function').toLowerCase();
      if (authLevel !== 'anonymous' && authLevel !== 'function' && authLevel !== 'admin') {
        throw new Error(`Function "${name}" has an unknown authLevel "${String(trigger.authLevel)}".`);
      }
      return { ...base, kind: 'http', route, effectiveRoute: route ?? name, methods, authLevel };
    }
    case 'timertrigger': {
      if (typeof trigger.schedule !== 'string' || trigger.schedule.trim() === '') {
        throw new Error(`Timer function "${name}" has no schedule.`);
      }
      return {
        ...base,
        kind: 'timer',
        schedule: trigger.schedule,
        runOnStartup: trigger.runOnStartup === true,
        useMonitor: typeof trigger.useMonitor === 'boolean' ? trigger.useMonitor : undefined,
      };
    }
    case 'queuetrigger': {
      if (typeof trigger.queueName !== 'string' || trigger.queueName.trim() === '') {
        throw new Error(`Queue function "${name}" has no queueName.`);
      }
      const connection = typeof trigger.connection === 'string' ? trigger.connection : '';
      return { ...base, kind: 'queue', queueName: trigger.queueName, connection };
    }
    default:
      return { ...base, kind: 'other' };
  }
}

const CORE_MODULE_ID = '@azure/functions-core';
const INSTALLED = Symbol.for('device-batch-status.dev.functions-core');

interface ModuleInternals {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _cache: Record<string, Module | undefined>;
}

/**
 * Makes `require('@azure/functions-core')` resolve to an in-process registry and returns it.
 * Call it before any function module (or anything that calls `app.*`) is imported: @azure/functions
 * looks the module up once, on first use, and caches a miss for the life of the process.
 * Idempotent: a second call returns the same registry.
 */
export function installFunctionsCore(): FunctionRegistry {
  const globals = globalThis as { [INSTALLED]?: FunctionRegistry };
  const existing = globals[INSTALLED];
  if (existing) return existing;

  const registry = new FunctionRegistry();
  // Why this hook: @azure/functions is CommonJS and loads the worker's module with a plain
  // `require('@azure/functions-core')`, which always asks Module._resolveFilename and then the
  // require cache (also when the app itself is ESM). Answering that one specifier with a
  // synthetic filename that we keep seeded in the cache hands the library our object through
  // Node's normal loading path: no file under node_modules, no loader flag, no effect on any
  // other specifier, and it works on every Node 22 release (module.registerHooks needs 22.15+).
  const internals = Module as unknown as ModuleInternals;
  const filename = path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    `functions-core.virtual-${randomUUID()}.cjs`,
  );
  const seedCache = () => {
    if (internals._cache[filename]) return;
    const module = new Module(filename);
    module.filename = filename;
    module.exports = registry.coreApi;
    module.loaded = true;
    internals._cache[filename] = module;
  };
  const resolveFilename = internals._resolveFilename;
  internals._resolveFilename = function (this: unknown, request, ...rest) {
    if (request === CORE_MODULE_ID) {
      seedCache();
      return filename;
    }
    return resolveFilename.call(this, request, ...rest);
  };
  seedCache();
  globals[INSTALLED] = registry;
  return registry;
}
