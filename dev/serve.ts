import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HostClock } from './host/clock.js';
import { type FunctionRegistry, installFunctionsCore } from './host/functions-core.js';
import { createStreamLogger, type HostLogger } from './host/host-log.js';
import { LocalFunctionsHost } from './host/local-host.js';
import {
  readLocalSettingsValues,
  readQueuesOptions,
  readRoutePrefix,
  resolveFunctionModules,
} from './host/project-config.js';

/**
 * `npm run serve`: the function app alone on the local Functions host, configured by the
 * environment and local.settings.json Values (environment wins). `startLocalApp` is the same
 * thing in-process, for `npm run dev` and end-to-end tests.
 */

export interface StartLocalAppOptions {
  /** Folder with package.json, host.json and local.settings.json; default: the one above this file. */
  projectRoot?: string;
  /**
   * Applied onto process.env before the function modules load (the app reads its settings
   * there); wins over the environment and local.settings.json. `undefined` removes a variable.
   */
  env?: Record<string, string | undefined>;
  /** Default: PORT, else 7071. 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: LOCAL_FUNCTION_KEY (after env and local.settings.json are applied); unset → no keys needed. */
  functionKey?: string;
  /** Read local.settings.json Values (default true). */
  useLocalSettings?: boolean;
  logger?: HostLogger;
  clock?: HostClock;
}

export interface LocalApp {
  /** e.g. http://localhost:7071 */
  url: string;
  host: LocalFunctionsHost;
  registry: FunctionRegistry;
  stop(): Promise<void>;
}

export async function startLocalApp(options: StartLocalAppOptions = {}): Promise<LocalApp> {
  const projectRoot = path.resolve(options.projectRoot ?? findProjectRoot());
  const env = process.env;
  if (options.useLocalSettings ?? true) {
    for (const [name, value] of Object.entries(readLocalSettingsValues(projectRoot))) {
      if (env[name] === undefined) env[name] = value;
    }
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  // func start sets this too; it tells the app it runs on a developer machine.
  env.AZURE_FUNCTIONS_ENVIRONMENT ??= 'Development';

  const port = options.port ?? parsePort(env.PORT);
  const logger = options.logger ?? createStreamLogger();
  const modules = resolveFunctionModules(projectRoot);

  // Before any function module: @azure/functions looks for the core module once, on first use.
  const registry = installFunctionsCore();
  registry.setSystemLogger(logger);
  for (const file of modules) {
    try {
      await import(pathToFileURL(file).href);
    } catch (error) {
      throw new Error(
        `Could not load the function module ${path.relative(projectRoot, file)}: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  if (registry.functions.length === 0) {
    logger({
      time: new Date(),
      level: 'warning',
      category: 'host',
      message: `No function was registered by ${modules.length} module(s). Was @azure/functions used before installFunctionsCore()?`,
    });
  }

  const hostOptions = {
    registry,
    port,
    host: options.host ?? '127.0.0.1',
    routePrefix: readRoutePrefix(projectRoot),
    queues: readQueuesOptions(projectRoot),
    env,
    logger,
    functionAppDirectory: projectRoot,
    ...(options.clock ? { clock: options.clock } : {}),
  };
  const functionKey = options.functionKey ?? env.LOCAL_FUNCTION_KEY;
  const host = new LocalFunctionsHost(functionKey ? { ...hostOptions, functionKey } : hostOptions);
  const { url } = await host.start();
  return {
    url: url.replace('//127.0.0.1:', '//localhost:'),
    host,
    registry,
    stop: () => host.stop(),
  };
}

/** What `func start` prints: the functions with their URLs, then where the host listens. */
export function describeLocalApp(app: LocalApp): string {
  const functions = app.host.describeFunctions(app.url).map((line) => `        ${line}`);
  const keys = app.host.keysRequired
    ? 'Function keys: required (LOCAL_FUNCTION_KEY) as the x-functions-key header or ?code=.'
    : 'Function keys: not required (set LOCAL_FUNCTION_KEY to require one).';
  return ['', 'Functions:', '', ...functions, '', `Function app listening at ${app.url}`, keys, ''].join(
    '\n',
  );
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 7071;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number between 0 and 65535; got '${value}'.`);
  }
  return port;
}

function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  let app: LocalApp;
  try {
    app = await startLocalApp();
  } catch (error) {
    process.stderr.write(`Could not start the function app: ${messageOf(error)}\n`);
    const cause = error instanceof Error ? error.cause : undefined;
    if (
      cause instanceof Error &&
      cause.stack &&
      error instanceof Error &&
      error.message.startsWith('Could not load')
    ) {
      process.stderr.write(`${cause.stack}\n`);
    }
    process.exit(1);
  }
  process.stdout.write(`${describeLocalApp(app)}\n`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting.\n`);
      process.exit(130);
    }
    stopping = true;
    process.stdout.write(`${signal} received: stopping the function app…\n`);
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Stopping failed: ${messageOf(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

const entry = process.argv[1];
if (entry !== undefined && existsSync(entry) && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  void main();
}
