import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { TlsMaterial } from './tls.js';

/** Handles one request; throwing answers 500 (the simulators are test tools, never hide bugs). */
export type SimulatorRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
) => Promise<void> | void;

/** Thrown by {@link readBody} when a body is larger than allowed. */
export class BodyTooLargeError extends Error {}

/**
 * The HTTPS server underneath every simulator: loopback only, one certificate, and a `stop()` that
 * does not wait for keep-alive sockets (the SDK clients keep connections open for a long time).
 */
export class SimulatorServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #host: string;
  #stopping = new AbortController();
  #url: string | undefined;

  constructor(
    readonly name: string,
    tls: TlsMaterial,
    handler: SimulatorRequestHandler,
    host = '127.0.0.1',
  ) {
    this.#host = host;
    this.#server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      const signal = this.#stopping.signal;
      Promise.resolve()
        .then(() => handler(req, res, signal))
        .catch((error: unknown) => {
          if (signal.aborted || res.destroyed) return;
          const message = error instanceof Error ? error.message : String(error);
          if (!res.headersSent) {
            sendJson(res, 500, { error: { code: 'SimulatorError', message: `${this.name}: ${message}` } });
          } else {
            res.destroy();
          }
        });
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    // A client that drops a TLS handshake (e.g. one that does not trust us) must not crash the process.
    this.#server.on('tlsClientError', () => {});
  }

  /** Listens on `port` (0 = any free port) and resolves with the base URL. */
  async start(port = 0): Promise<string> {
    if (this.#url) throw new Error(`${this.name} is already started at ${this.#url}`);
    this.#stopping = new AbortController();
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(port, this.#host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `https://${host}:${address.port}`;
    return this.#url;
  }

  /** Base URL (`https://127.0.0.1:{port}`), without a trailing slash. Throws before `start()`. */
  get url(): string {
    if (!this.#url) throw new Error(`${this.name} is not started`);
    return this.#url;
  }

  /** Whether `start()` has completed and `stop()` has not been called since. */
  get started(): boolean {
    return this.#url !== undefined;
  }

  /** Stops listening, aborts pending delays and streams, and destroys open sockets. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#url) return;
    this.#url = undefined;
    this.#stopping.abort();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }
}

/** Where a simulator listens: its certificate, and the address (default 127.0.0.1). */
export interface SimulatorListenOptions {
  tls: TlsMaterial;
  host?: string;
}

/**
 * What every simulator has: a {@link SimulatorServer} behind `start`, `url` and `stop`, handing
 * each request to {@link handle}.
 */
export abstract class HttpsSimulator {
  readonly #server: SimulatorServer;

  protected constructor(name: string, options: SimulatorListenOptions) {
    this.#server = new SimulatorServer(
      name,
      options.tls,
      (req, res, signal) => this.handle(req, res, signal),
      options.host,
    );
  }

  /** Listens on `port` (0 = any free port). Resolves with {@link url}. */
  start(port = 0): Promise<string> {
    return this.#server.start(port);
  }

  /** The base URL (`https://127.0.0.1:{port}`), without a trailing slash. Throws before `start()`. */
  get url(): string {
    return this.#server.url;
  }

  /** Stops the server, ends pending delays and endless bodies, and drops open connections. */
  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** Answers one request; `signal` aborts when the server stops. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void>;
}

/**
 * Injected failures in the order they were queued. Each is used up after `times` requests it
 * applies to; with `times` undefined it stays until cleared.
 */
export class FailureQueue<F> {
  #entries: { failure: F; remaining: number | undefined }[] = [];

  add(failure: F, times: number | undefined): void {
    this.#entries.push({ failure, remaining: times });
  }

  /** The first queued failure that `applies` to this request (default: any), one use of it spent. */
  take(applies: (failure: F) => boolean = () => true): F | undefined {
    const index = this.#entries.findIndex((entry) => applies(entry.failure));
    const entry = this.#entries[index];
    if (!entry) return undefined;
    if (entry.remaining !== undefined) {
      entry.remaining--;
      if (entry.remaining <= 0) this.#entries.splice(index, 1);
    }
    return entry.failure;
  }

  /** How many failures are queued. */
  get length(): number {
    return this.#entries.length;
  }

  clear(): void {
    this.#entries = [];
  }
}

/**
 * A simulator that counts what it serves, can be told to fail the next requests (`failNext`) and
 * to answer slowly (`delay`); `reset()` forgets all three. What it holds (registrations, secrets,
 * keys) is its own, and stays.
 */
export abstract class FaultInjectingSimulator<
  Counters extends object,
  Failure extends { times?: number },
> extends HttpsSimulator {
  readonly #emptyCounters: () => Counters;
  readonly #failures = new FailureQueue<Failure>();
  #counters: Counters;
  #latencyMs = 0;

  protected constructor(name: string, options: SimulatorListenOptions, emptyCounters: () => Counters) {
    super(name, options);
    this.#emptyCounters = emptyCounters;
    this.#counters = emptyCounters();
  }

  /** The next `times` (default 1) requests that it applies to fail with `status`. Queued after earlier ones. */
  failNext(failure: Failure): void {
    this.#failures.add(failure, failure.times ?? 1);
  }

  /** Delays every response by `ms` (0 turns it off). */
  delay(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  /** A snapshot of the counters. */
  get counters(): Counters {
    return structuredClone(this.#counters);
  }

  /** Clears counters, queued failures and latency. */
  reset(): void {
    this.#counters = this.#emptyCounters();
    this.#failures.clear();
    this.#latencyMs = 0;
  }

  /** The live counters, for the request handler to count in. */
  protected get counts(): Counters {
    return this.#counters;
  }

  /** The delay set by {@link delay}, in ms. */
  protected get latencyMs(): number {
    return this.#latencyMs;
  }

  /** The next queued failure that `applies` to this request (default: any), one use of it spent. */
  protected takeFailure(applies?: (failure: Failure) => boolean): Failure | undefined {
    return this.#failures.take(applies);
  }
}

/** Sends a JSON body with an exact `Content-Length`. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json; charset=utf-8',
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads the request body, refusing more than `limitBytes`. */
export async function readBodyBytes(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) throw new BodyTooLargeError(`request body larger than ${limitBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads the request body as text, refusing more than `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<string> {
  return (await readBodyBytes(req, limitBytes)).toString('utf8');
}

/** Waits `ms` unless the server stops first; resolves `false` when it was stopped. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) {
    // Still yield, so a loop that pauses 0 ms cannot starve the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    return !signal.aborted;
  }
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** The first value of a request header, if any. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Splits a request URL into its path (percent-decoded segments) and query. */
export function parseRequestUrl(req: IncomingMessage): {
  path: string;
  segments: string[];
  query: URLSearchParams;
} {
  const url = new URL(req.url ?? '/', 'https://simulator.invalid');
  const segments = url.pathname
    .split('/')
    .filter((segment) => segment.length > 0)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    });
  return { path: url.pathname, segments, query: url.searchParams };
}

/** Increments `record[key]`. */
export function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}

/** A random GUID (lower case, with dashes). */
export function newGuid(): string {
  return randomUUID();
}

/** Matches a GUID in any case. */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
