import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Benchmark child processes. A child answers on stdout with one line `@@bench-ready {json}` (a
 * long-lived server is up) and/or `@@bench-result {json}` (its measurement); other output is kept
 * for error messages only.
 */

const READY = '@@bench-ready ';
const RESULT = '@@bench-result ';

/** Compiled worker scripts live next to this file, in dist/bench/workers. */
export function workerScript(name: string): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'workers', `${name}.js`);
}

/**
 * Child side: the measurement, as the last thing the process says; then the process ends (open
 * keep-alive sockets of the SDK clients would otherwise keep it alive).
 */
export function reply(result: unknown): Promise<never> {
  return new Promise(() => {
    process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`, () => process.exit(0));
  });
}

/** Child side: a server is ready. */
export function ready(info: unknown): void {
  process.stdout.write(`${READY}${JSON.stringify(info)}\n`);
}

/** Child side: its input, passed by the parent as JSON in BENCH_INPUT. */
export function input<T>(): T {
  const raw = process.env.BENCH_INPUT;
  if (!raw) throw new Error('BENCH_INPUT is not set: this script is started by bench/run.js');
  return JSON.parse(raw) as T;
}

export interface SpawnedWorker<R> {
  child: ChildProcess;
  /** Resolves with the `@@bench-result`, rejects when the process exits without one. */
  result: Promise<R>;
  /** Resolves with the `@@bench-ready` info. */
  ready: Promise<unknown>;
  stop(): Promise<void>;
}

export function spawnWorker<R>(
  name: string,
  options: { env: NodeJS.ProcessEnv; input?: unknown; nodeArgs?: string[] },
): SpawnedWorker<R> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), workerScript(name)], {
    env: { ...options.env, BENCH_INPUT: JSON.stringify(options.input ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  let resolveReady: (info: unknown) => void = () => {};
  const ready = new Promise<unknown>((resolve) => {
    resolveReady = resolve;
  });
  let resolveResult: (value: R) => void = () => {};
  let rejectResult: (error: Error) => void = () => {};
  const result = new Promise<R>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  let got = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith(READY)) resolveReady(JSON.parse(line.slice(READY.length)));
    else if (line.startsWith(RESULT)) {
      got = true;
      resolveResult(JSON.parse(line.slice(RESULT.length)) as R);
    } else keep(line);
  });
  createInterface({ input: child.stderr! }).on('line', keep);
  // 'close', not 'exit': the result line may still be in the pipe when the process has exited.
  child.once('close', (code, signal) => {
    if (!got) {
      const error = new Error(
        `bench worker ${name} exited (${signal ?? code}) without a result:\n${tail.join('\n')}`,
      );
      rejectResult(error);
    }
  });
  // Unhandled when the caller only waits for `ready` and the child is stopped later.
  result.catch(() => {});
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const readyOrExit = Promise.race([
    ready,
    new Promise<never>((_, reject) =>
      child.once('close', (code, signal) =>
        reject(
          new Error(
            `bench worker ${name} exited (${signal ?? code}) before it was ready:\n${tail.join('\n')}`,
          ),
        ),
      ),
    ),
  ]);
  readyOrExit.catch(() => {});
  return { child, result, ready: readyOrExit, stop };
}

/** Runs a worker to completion and returns its result. */
export function runWorker<R>(
  name: string,
  options: { env: NodeJS.ProcessEnv; input?: unknown; nodeArgs?: string[] },
): Promise<R> {
  return spawnWorker<R>(name, options).result;
}
