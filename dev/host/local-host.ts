import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import azureFunctions, { type Timer } from '@azure/functions';
import { type HostClock, systemClock } from './clock.js';
import type {
  FunctionRegistry,
  HttpFunctionRegistration,
  QueueFunctionRegistration,
  RegisteredFunction,
  TimerFunctionRegistration,
} from './functions-core.js';
import { createStreamLogger, type HostLogger, type LogLevel } from './host-log.js';
import {
  DEFAULT_MAX_REQUEST_BODY_BYTES,
  PayloadTooLargeError,
  readRequestBody,
  toFunctionsRequest,
  toFunctionsResponse,
  writeFunctionsResponse,
  writeProblem,
} from './http-adapter.js';
import { FunctionInvoker, InvocationFailedError } from './invoker.js';
import { NcrontabSchedule, resolveAppSettings } from './ncrontab.js';
import { DEFAULT_QUEUES_OPTIONS, type QueuesHostOptions } from './project-config.js';
import { type QueueDelivery, QueueListener, queueServiceFor } from './queue-listener.js';
import { joinRoutePrefix, RouteTable } from './route-template.js';
import { TimerListener, type TimerOccurrence } from './timer-listener.js';

// Default import: Node's CommonJS export detection misses the classes of @azure/functions.
const { HttpRequest } = azureFunctions;

export interface LocalFunctionsHostOptions {
  registry: FunctionRegistry;
  /** Default 7071; 0 picks a free port. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1 (loopback only). */
  host?: string;
  /** host.json extensions.http.routePrefix; default `api`. */
  routePrefix?: string;
  /** When set (non-empty), `function`/`admin` routes and `/admin/*` require it. */
  functionKey?: string;
  /** Resolves `%SETTING%` in timer schedules; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: one line per entry on stdout. */
  logger?: HostLogger;
  clock?: HostClock;
  /** Default 100 MB, the Functions limit. */
  maxRequestBodyBytes?: number;
  /** How long stop() waits for running invocations; default 10 s. */
  shutdownTimeoutMs?: number;
  /** Passed to appStart hooks; default process.cwd(). */
  functionAppDirectory?: string;
  /** host.json extensions.queues; default the Functions host's defaults. */
  queues?: QueuesHostOptions;
}

export type InvocationOutcome =
  | { status: 'succeeded'; invocationId: string; result: unknown }
  | { status: 'failed'; invocationId: string; error: unknown }
  | { status: 'skipped'; reason: string; runningInvocationId?: string };

type TriggerSource = 'schedule' | 'startup' | 'admin' | 'invoke';

interface ScheduledTimer {
  fn: TimerFunctionRegistration;
  schedule: NcrontabSchedule;
  listener: TimerListener;
}

interface Run {
  /** Resolves once the handler has been called (or the run was skipped or failed before that). */
  started: Promise<void>;
  outcome: Promise<InvocationOutcome>;
}

const ADMIN_PATH = /^\/admin(?:\/|$)/i;
const ADMIN_INVOKE_PATH = /^\/admin\/functions\/([^/]+)\/?$/i;
const TRIGGER_NAMES: Record<TriggerSource, string> = {
  schedule: 'schedule',
  startup: 'runOnStartup',
  admin: 'admin API',
  invoke: 'in-process invoke',
};

/**
 * A local stand-in for the Functions host: serves the registered HTTP functions under the route
 * prefix, runs timers on their NCRONTAB schedule, and runs non-HTTP functions on demand through
 * `POST /admin/functions/{name}`, all from the registrations @azure/functions made.
 */
export class LocalFunctionsHost {
  readonly #registry: FunctionRegistry;
  readonly #port: number;
  readonly #hostname: string;
  readonly #routePrefix: string;
  readonly #functionKeyDigest: Buffer | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: HostLogger;
  readonly #clock: HostClock;
  readonly #maxBodyBytes: number;
  readonly #shutdownTimeoutMs: number;
  readonly #functionAppDirectory: string;
  readonly #appHookData: Record<string, unknown> = {};
  readonly #invoker: FunctionInvoker;

  #state: 'created' | 'starting' | 'running' | 'stopping' | 'stopped' = 'created';
  #server: Server | undefined;
  #url: string | undefined;
  #routes = new RouteTable<HttpFunctionRegistration>();
  readonly #timers = new Map<string, ScheduledTimer>();
  readonly #queues = new Map<string, QueueListener>();
  readonly #queuesOptions: QueuesHostOptions;
  readonly #queueErrors = new Map<string, string>();
  /** Function (lower-case name) → id of its run in progress: the no-overlap rule. */
  readonly #running = new Map<string, string>();
  readonly #lastRun = new Map<string, Date>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #stopping: Promise<void> | undefined;

  constructor(options: LocalFunctionsHostOptions) {
    this.#registry = options.registry;
    this.#port = options.port ?? 7071;
    this.#hostname = options.host ?? '127.0.0.1';
    this.#routePrefix = options.routePrefix ?? 'api';
    this.#functionKeyDigest = options.functionKey ? digest(options.functionKey) : undefined;
    this.#env = options.env ?? process.env;
    this.#logger = options.logger ?? createStreamLogger();
    this.#clock = options.clock ?? systemClock;
    this.#maxBodyBytes = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
    this.#functionAppDirectory = options.functionAppDirectory ?? process.cwd();
    this.#queuesOptions = options.queues ?? DEFAULT_QUEUES_OPTIONS;
    this.#invoker = new FunctionInvoker(this.#registry, this.#logger, this.#clock, this.#appHookData);
  }

  /** `http://host:port` once started. */
  get url(): string | undefined {
    return this.#url;
  }

  get keysRequired(): boolean {
    return this.#functionKeyDigest !== undefined;
  }

  /**
   * Validates every route and schedule (a bad template, an invalid NCRONTAB expression or a
   * missing `%SETTING%` rejects, naming the function), runs appStart hooks, listens, then arms
   * the timers and runs those with runOnStartup.
   */
  async start(): Promise<{ url: string }> {
    if (this.#state !== 'created') throw new Error('The host was already started.');
    this.#state = 'starting';
    try {
      this.#registry.setSystemLogger(this.#logger);
      this.#prepareFunctions();
      for (const hook of this.#registry.hooks('appStart')) {
        await hook({
          hookData: {},
          appHookData: this.#appHookData,
          functionAppDirectory: this.#functionAppDirectory,
        });
      }
      this.#server = createServer((req, res) => {
        this.#track(this.#handleRequest(req, res));
      });
      const port = await listen(this.#server, this.#port, this.#hostname);
      this.#url = `http://${urlHost(this.#hostname)}:${port}`;
    } catch (error) {
      this.#state = 'stopped';
      this.#server?.close();
      throw error;
    }
    this.#state = 'running';
    for (const timer of this.#timers.values()) timer.listener.start();
    for (const listener of this.#queues.values()) listener.start();
    this.#log(
      'information',
      `Host started at ${this.#url} with ${this.#registry.functions.length} function(s).`,
    );
    for (const timer of this.#timers.values()) {
      if (timer.fn.runOnStartup) this.#run(timer.fn, 'startup');
    }
    return { url: this.#url };
  }

  /**
   * Stops the timers and new requests, waits up to `shutdownTimeoutMs` for running invocations,
   * closes every connection and runs appTerminate hooks. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /**
   * Runs a function now and resolves when it has finished. Non-HTTP functions follow the
   * no-overlap rule (a run in progress → `skipped`); a timer gets a fresh Timer object and
   * `input` is ignored; other triggers get `input` as their trigger value. An HTTP function
   * needs an HttpRequest as `input`.
   */
  async invoke(name: string, input?: unknown): Promise<InvocationOutcome> {
    const fn = this.#registry.get(name);
    if (!fn) throw new Error(`No function named '${name}' is registered.`);
    if (this.#state !== 'running') throw new Error('The host is not running: call start() first.');
    if (fn.kind !== 'http') return this.#run(fn, 'invoke', { input }).outcome;
    if (!(input instanceof HttpRequest)) {
      throw new TypeError(`'${fn.name}' is an HTTP function: pass an HttpRequest from @azure/functions.`);
    }
    const invocationId = randomUUID();
    const outcome = this.#invoker
      .invoke({
        fn,
        invocationId,
        triggerInput: input,
        reason: 'Invoked in-process (LocalFunctionsHost.invoke)',
      })
      .then(
        (result): InvocationOutcome => ({ status: 'succeeded', invocationId, result }),
        (error): InvocationOutcome => ({ status: 'failed', invocationId, error: unwrap(error) }),
      );
    this.#track(outcome);
    return outcome;
  }

  /** One line per function, like `func start` prints them. */
  describeFunctions(baseUrl: string | undefined = this.#url): string[] {
    return this.#registry.functions.map((fn) => {
      switch (fn.kind) {
        case 'http': {
          const methods = fn.methods.length > 0 ? fn.methods.join(',') : 'ALL';
          return `${fn.name}: [${methods}] ${baseUrl ?? ''}/${joinRoutePrefix(this.#routePrefix, fn.effectiveRoute)}`;
        }
        case 'timer': {
          const timer = this.#timers.get(fn.name.toLowerCase());
          const next = timer?.listener.nextOccurrence;
          const schedule = timer?.schedule.expression ?? fn.schedule;
          return `${fn.name}: timerTrigger (${schedule} UTC${next ? `, next ${next.toISOString()}` : ''})`;
        }
        case 'queue': {
          const key = fn.name.toLowerCase();
          const error = this.#queueErrors.get(key);
          if (error) return `${fn.name}: queueTrigger (not listening: ${error})`;
          return `${fn.name}: queueTrigger (${this.#queues.get(key)?.queueName ?? fn.queueName})`;
        }
        default:
          return `${fn.name}: ${fn.triggerType}`;
      }
    });
  }

  #prepareFunctions(): void {
    this.#routes = new RouteTable();
    this.#timers.clear();
    this.#queues.clear();
    this.#queueErrors.clear();
    for (const fn of this.#registry.functions) {
      try {
        if (fn.kind === 'http') {
          this.#routes.add(joinRoutePrefix(this.#routePrefix, fn.effectiveRoute), fn.methods, fn);
        } else if (fn.kind === 'timer') {
          const usedBy = `Timer function '${fn.name}' (schedule '${fn.schedule}')`;
          const schedule = NcrontabSchedule.parse(resolveAppSettings(fn.schedule, this.#env, usedBy));
          const listener = new TimerListener({
            schedule,
            clock: this.#clock,
            onFire: (occurrence) => this.#run(fn, 'schedule', { occurrence }),
          });
          this.#timers.set(fn.name.toLowerCase(), { fn, schedule, listener });
        } else if (fn.kind === 'queue') {
          this.#prepareQueue(fn);
        }
      } catch (error) {
        const message = (error as Error).message;
        throw new Error(message.includes(`'${fn.name}'`) ? message : `Function '${fn.name}': ${message}`, {
          cause: error,
        });
      }
    }
  }

  /**
   * The binding's queue on its connection, both resolved from app settings as the Functions host
   * does. Like the Functions host, a queue function whose settings are missing is in error (said
   * so, and not listened to) while the rest of the app runs.
   */
  #prepareQueue(fn: QueueFunctionRegistration): void {
    const key = fn.name.toLowerCase();
    try {
      this.#queues.set(key, this.#queueListener(fn));
    } catch (error) {
      const message = `The '${fn.name}' function is in error: ${(error as Error).message}`;
      this.#queueErrors.set(key, message);
      this.#log('error', message, fn.name);
    }
  }

  #queueListener(fn: QueueFunctionRegistration): QueueListener {
    const usedBy = `Queue function '${fn.name}' (queueName '${fn.queueName}')`;
    const queueName = resolveAppSettings(fn.queueName, this.#env, usedBy);
    const service = queueServiceFor(fn.connection, this.#env);
    return new QueueListener({
      queue: service.getQueueClient(queueName),
      poison: service.getQueueClient(`${queueName}-poison`),
      options: this.#queuesOptions,
      clock: this.#clock,
      run: (delivery) => this.#runQueueMessage(fn, queueName, delivery),
      log: (level, message) => this.#log(level, message, fn.name),
    });
  }

  /** Queue messages run side by side (up to batchSize), unlike timers: no overlap rule. */
  async #runQueueMessage(
    fn: QueueFunctionRegistration,
    queueName: string,
    delivery: QueueDelivery,
  ): Promise<boolean> {
    if (this.#state !== 'running') return false;
    const outcome = this.#invoker.invoke({
      fn,
      invocationId: randomUUID(),
      triggerInput: delivery.value,
      triggerMetadata: delivery.triggerMetadata,
      reason: `New queue message detected on '${queueName}'.`,
    });
    this.#track(outcome);
    return outcome.then(
      () => true,
      () => false,
    );
  }

  async #stop(): Promise<void> {
    if (this.#state === 'created' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    for (const timer of this.#timers.values()) timer.listener.stop();
    const queuesStopped = Promise.all([...this.#queues.values()].map((listener) => listener.stop()));
    const server = this.#server;
    const closed = new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeIdleConnections();
    });

    const deadline = Date.now() + this.#shutdownTimeoutMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) {
      const wait = new Promise<void>((resolve) => setTimeout(resolve, deadline - Date.now()).unref());
      await Promise.race([Promise.allSettled([...this.#inFlight]), wait]);
    }
    if (this.#inFlight.size > 0) {
      this.#log(
        'warning',
        `Stopping with ${this.#inFlight.size} invocation(s) still running after ${this.#shutdownTimeoutMs} ms.`,
      );
    }
    server?.closeAllConnections();
    await Promise.all([closed, queuesStopped]);

    for (const hook of this.#registry.hooks('appTerminate')) {
      try {
        await hook({ hookData: {}, appHookData: this.#appHookData });
      } catch (error) {
        this.#log('error', `An appTerminate hook failed: ${describeError(error)}`);
      }
    }
    this.#state = 'stopped';
    this.#log('information', 'Host stopped.');
  }

  #run(
    fn: Exclude<RegisteredFunction, HttpFunctionRegistration>,
    source: TriggerSource,
    details: { occurrence?: TimerOccurrence; input?: unknown } = {},
  ): Run {
    const key = fn.name.toLowerCase();
    const runningId = this.#running.get(key);
    const skipReason =
      runningId !== undefined
        ? `the previous run (Id=${runningId}) is still in progress`
        : this.#state !== 'running'
          ? 'the host is stopping'
          : undefined;
    if (skipReason !== undefined) {
      this.#log(
        'warning',
        `Skipped the ${TRIGGER_NAMES[source]} trigger of 'Functions.${fn.name}': ${skipReason}.`,
        fn.name,
      );
      const skipped: InvocationOutcome = { status: 'skipped', reason: skipReason };
      if (runningId !== undefined) skipped.runningInvocationId = runningId;
      return { started: Promise.resolve(), outcome: Promise.resolve(skipped) };
    }

    const invocationId = randomUUID();
    this.#running.set(key, invocationId);
    let markStarted = () => {};
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const outcome = this.#invoker
      .invoke({
        fn,
        invocationId,
        triggerInput: fn.kind === 'timer' ? this.#timerInput(fn, details.occurrence) : details.input,
        reason: reasonFor(source, details.occurrence),
        onStarted: markStarted,
        onFinished: () => this.#running.delete(key),
      })
      .then(
        (result): InvocationOutcome => ({ status: 'succeeded', invocationId, result }),
        (error): InvocationOutcome => ({ status: 'failed', invocationId, error: unwrap(error) }),
      )
      .finally(() => {
        // Also covers a failure before the invoker got going.
        if (this.#running.get(key) === invocationId) this.#running.delete(key);
        markStarted();
      });
    this.#track(outcome);
    return { started, outcome };
  }

  /** Shaped like @azure/functions' Timer (the worker camel-cases the host's TimerInfo). */
  #timerInput(fn: TimerFunctionRegistration, occurrence: TimerOccurrence | undefined): Timer {
    const key = fn.name.toLowerCase();
    const timer = this.#timers.get(key);
    const now = this.#clock.now();
    const scheduledAt = occurrence?.scheduledAt ?? now;
    const next = occurrence?.next ?? timer?.listener.nextOccurrence ?? timer?.schedule.next(now) ?? now;
    const last = this.#lastRun.get(key) ?? timer?.schedule.previous(scheduledAt) ?? scheduledAt;
    this.#lastRun.set(key, scheduledAt);
    return {
      isPastDue: occurrence?.isPastDue ?? false,
      schedule: { adjustForDST: true },
      scheduleStatus: { last: last.toISOString(), next: next.toISOString(), lastUpdated: now.toISOString() },
    };
  }

  async #handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.#state !== 'running') {
        writeProblem(res, 503, 'The host is shutting down.', { connection: 'close' });
        return;
      }
      const url = this.#requestUrl(req);
      if (ADMIN_PATH.test(url.pathname)) {
        await this.#handleAdmin(req, res, url);
        return;
      }
      const method = (req.method ?? 'GET').toUpperCase();
      const match = this.#routes.match(method, url.pathname);
      if (match.kind === 'notFound') {
        writeProblem(res, 404, 'No function matches this path.');
        return;
      }
      if (match.kind === 'methodNotAllowed') {
        writeProblem(res, 405, `This route accepts ${match.allowed.join(', ')}.`, {
          allow: match.allowed.join(', '),
        });
        return;
      }
      const fn = match.target;
      if (fn.authLevel !== 'anonymous' && !this.#isAuthorized(req, url)) {
        writeProblem(
          res,
          401,
          'This function needs a key: send it as the x-functions-key header or the code query parameter.',
        );
        return;
      }
      const body = await readRequestBody(req, this.#maxBodyBytes);
      const request = toFunctionsRequest(req, url, match.params, body);
      const invocationId = randomUUID();
      let result: unknown;
      try {
        result = await this.#invoker.invoke({
          fn,
          invocationId,
          triggerInput: request,
          reason: `HTTP ${method} ${url.pathname}`,
        });
      } catch (error) {
        if (!(error instanceof InvocationFailedError)) throw error;
        writeProblem(res, 500, `The function failed; see the host log for invocation ${invocationId}.`);
        return;
      }
      let response: ReturnType<typeof toFunctionsResponse>;
      try {
        response = toFunctionsResponse(result);
      } catch (error) {
        this.#log(
          'error',
          `Invalid HTTP response from 'Functions.${fn.name}' (Id=${invocationId}): ${describeError(error)}`,
          fn.name,
        );
        writeProblem(
          res,
          500,
          `The function returned an invalid response; see the host log for invocation ${invocationId}.`,
        );
        return;
      }
      await writeFunctionsResponse(res, response);
    } catch (error) {
      this.#failRequest(req, res, error);
    }
  }

  async #handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!this.#isAuthorized(req, url)) {
      writeProblem(
        res,
        401,
        'The admin API needs the key: send it as the x-functions-key header or the code query parameter.',
      );
      return;
    }
    const match = ADMIN_INVOKE_PATH.exec(url.pathname);
    if (!match) {
      writeProblem(
        res,
        404,
        'Unknown admin endpoint. Run a non-HTTP function with POST /admin/functions/{name}.',
      );
      return;
    }
    if ((req.method ?? '').toUpperCase() !== 'POST') {
      writeProblem(res, 405, 'Use POST.', { allow: 'POST' });
      return;
    }
    const name = safeDecode(match[1]!);
    const fn = this.#registry.get(name);
    if (!fn) {
      writeProblem(res, 404, `No function named '${name}'.`);
      return;
    }
    if (fn.kind === 'http') {
      writeProblem(res, 400, `'${fn.name}' is an HTTP function: call it at its route instead.`);
      return;
    }
    const body = (await readRequestBody(req, this.#maxBodyBytes)).toString('utf8');
    const input = parseAdminInput(body);
    if (input instanceof Error) {
      writeProblem(res, 400, input.message);
      return;
    }
    // Like Functions, the admin API only queues the run: 202 whether it starts or is skipped
    // because a run is already in progress (the skip is logged).
    const run = this.#run(fn, 'admin', { input: fn.kind === 'timer' ? undefined : toTriggerValue(input) });
    await run.started;
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  }

  #failRequest(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (error instanceof PayloadTooLargeError) {
      if (!res.headersSent) writeProblem(res, 413, error.message, { connection: 'close' });
      // Stop the upload instead of draining it; the client already has its answer.
      res.once('finish', () => {
        if (!req.complete) req.socket.destroy();
      });
      return;
    }
    this.#log(
      'error',
      `Request ${req.method ?? ''} ${(req.url ?? '').split('?')[0]} failed: ${describeError(error)}`,
    );
    if (!res.headersSent) writeProblem(res, 500, 'The host failed to handle this request.');
    else res.destroy();
  }

  #requestUrl(req: IncomingMessage): URL {
    const target = req.url ?? '/';
    const fallback = new URL(this.#url ?? 'http://localhost');
    if (!target.startsWith('/')) {
      try {
        return new URL(target);
      } catch {
        return new URL('/', fallback);
      }
    }
    try {
      return new URL(`http://${req.headers.host ?? fallback.host}${target}`);
    } catch {
      return new URL(`${fallback.origin}${target}`);
    }
  }

  #isAuthorized(req: IncomingMessage, url: URL): boolean {
    const expected = this.#functionKeyDigest;
    if (!expected) return true;
    const header = req.headers['x-functions-key'];
    const provided = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code');
    if (provided === null || provided === undefined || provided === '') return false;
    // Fixed-length digests: the comparison takes the same time whatever was sent.
    return timingSafeEqual(digest(provided), expected);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const forget = () => this.#inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  #log(level: LogLevel, message: string, functionName?: string): void {
    const entry = { time: this.#clock.now(), level, category: 'host' as const, message };
    this.#logger(functionName === undefined ? entry : { ...entry, functionName });
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Port ${port} on ${host} is already in use; set PORT to a free port.`, { cause: error })
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function reasonFor(source: TriggerSource, occurrence: TimerOccurrence | undefined): string {
  switch (source) {
    case 'schedule':
      return `Timer fired at ${(occurrence?.firedAt ?? new Date()).toISOString()}`;
    case 'startup':
      return 'Timer fired on startup (runOnStartup)';
    case 'admin':
      return 'This function was programmatically called via the host APIs.';
    case 'invoke':
      return 'Invoked in-process (LocalFunctionsHost.invoke)';
  }
}

/** `{"input": "..."}`; an empty body counts as no input. */
function parseAdminInput(body: string): string | undefined | Error {
  if (body.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return new Error('The body must be JSON: {"input": "..."}.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return new Error('The body must be a JSON object: {"input": "..."}.');
  }
  const input = (json as { input?: unknown }).input;
  if (input !== undefined && input !== null && typeof input !== 'string') {
    return new Error('"input" must be a string.');
  }
  return input ?? undefined;
}

/** The host hands JSON-looking input to the worker as JSON, which arrives parsed; anything else as a string. */
function toTriggerValue(input: string | undefined): unknown {
  if (input === undefined) return '';
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof InvocationFailedError ? error.cause : error;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
