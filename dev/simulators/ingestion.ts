import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { EntraSimulator } from './entra.js';
import {
  FailureQueue,
  HttpsSimulator,
  header,
  parseRequestUrl,
  readBodyBytes,
  sendJson,
} from './https-server.js';
import type { TlsMaterial } from './tls.js';

/**
 * Application Insights ingestion ("Breeze") simulator: where the real `applicationinsights` 3.x
 * client (through @azure/monitor-opentelemetry-exporter) sends its envelopes in tests, so that
 * what the app reports can be read back and nothing leaves the machine.
 *
 * Wire contract, as the exporter uses it:
 * - `POST /v2.1/track` (and the older `/v2/track`): a JSON array of envelopes, a single envelope,
 *   or newline-delimited envelopes; `Content-Encoding: gzip` (or `deflate`) or plain. Answers
 *   `200 { itemsReceived, itemsAccepted, errors: [] }`.
 * - With `entra` set, local authentication is disabled as on a real resource with
 *   `DisableLocalAuth`: a request needs `Authorization: Bearer` with an Entra token for
 *   `https://monitor.azure.com`, else `401` (the exporter then keeps the batch for later).
 * - Anything else (live metrics' `QuickPulseService.svc`, profiler, …) answers `404` and is counted
 *   in `unexpectedRequests`, so a test can prove that no other feature talked to the endpoint.
 *
 * The connection string points both the ingestion and the live endpoint here, so a client with
 * live metrics wrongly enabled would show up as unexpected requests instead of leaving the machine.
 */

/** One telemetry item as Application Insights receives it. */
export interface TelemetryEnvelope {
  name: string;
  time: string;
  iKey?: string;
  sampleRate?: number;
  tags?: Record<string, string>;
  data?: { baseType?: string; baseData?: Record<string, unknown> };
}

/** One request to a track endpoint. */
export interface IngestionRequest {
  path: string;
  /** `gzip`, `deflate` or `identity`. */
  encoding: string;
  /** The authorization scheme (`Bearer`), never the token. */
  authorization?: string;
  /** Audience of a valid bearer token, when `entra` is set. */
  tokenAudience?: string;
  status: number;
  items: number;
}

export interface IngestionFailure {
  /** 429/500/503 make the exporter retry later; 400 drops the batch. */
  status: number;
  times?: number;
}

export interface IngestionSimulatorOptions {
  tls: TlsMaterial;
  /** When set, requests must carry a valid Entra token for Azure Monitor (local auth disabled). */
  entra?: EntraSimulator;
  /** The instrumentation key of the simulated resource; random by default. */
  instrumentationKey?: string;
  host?: string;
}

export interface IngestionCounters {
  trackRequests: number;
  items: number;
  /** Requests to anything but the track endpoints (live metrics, profiler, …). */
  unexpectedRequests: number;
  /** Track requests refused with 401 (missing or invalid token while local auth is disabled). */
  unauthorized: number;
  injectedFailures: number;
}

const AUDIENCE = 'https://monitor.azure.com';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Simulated Application Insights ingestion endpoint. See the module comment for the wire contract. */
export class IngestionSimulator extends HttpsSimulator {
  readonly instrumentationKey: string;
  readonly #entra: EntraSimulator | undefined;
  readonly #failures = new FailureQueue<IngestionFailure>();
  #envelopes: TelemetryEnvelope[] = [];
  #requests: IngestionRequest[] = [];
  #bodies: string[] = [];
  #unexpected: string[] = [];
  #counters = emptyCounters();

  constructor(options: IngestionSimulatorOptions) {
    super('Application Insights ingestion simulator', options);
    this.instrumentationKey = options.instrumentationKey ?? randomUUID();
    this.#entra = options.entra;
  }

  /** `APPLICATIONINSIGHTS_CONNECTION_STRING` for a client that must talk to this simulator only. */
  get connectionString(): string {
    return `InstrumentationKey=${this.instrumentationKey};IngestionEndpoint=${this.url}/;LiveEndpoint=${this.url}/`;
  }

  /** Every envelope received since start or the last `reset()`, in arrival order. */
  get envelopes(): TelemetryEnvelope[] {
    return [...this.#envelopes];
  }

  get requests(): IngestionRequest[] {
    return [...this.#requests];
  }

  /** Every decoded request body, as received: for "this secret appears nowhere" checks. */
  get rawBodies(): string[] {
    return [...this.#bodies];
  }

  /** Method and path of every request that was not a track call. */
  get unexpectedRequests(): string[] {
    return [...this.#unexpected];
  }

  get counters(): IngestionCounters {
    return { ...this.#counters };
  }

  /** Custom events (`trackEvent`), optionally of one name. */
  events(name?: string): TelemetryEnvelope[] {
    return this.#ofType('EventData').filter((e) => name === undefined || e.data?.baseData?.name === name);
  }

  /** Metric envelopes holding a metric of this name (or every metric envelope). */
  metrics(name?: string): TelemetryEnvelope[] {
    return this.#ofType('MetricData').filter(
      (e) =>
        name === undefined ||
        ((e.data?.baseData?.metrics as { name?: string }[] | undefined) ?? []).some((m) => m.name === name),
    );
  }

  /** Dependency envelopes (outgoing calls). */
  dependencies(): TelemetryEnvelope[] {
    return this.#ofType('RemoteDependencyData');
  }

  /** The next `times` (default 1) track requests fail with `status`. */
  failNext(failure: IngestionFailure): void {
    this.#failures.add(failure, failure.times ?? 1);
  }

  /** Forgets every envelope, request and counter; queued failures too. */
  reset(): void {
    this.#envelopes = [];
    this.#requests = [];
    this.#bodies = [];
    this.#unexpected = [];
    this.#failures.clear();
    this.#counters = emptyCounters();
  }

  #ofType(baseType: string): TelemetryEnvelope[] {
    return this.#envelopes.filter((e) => e.data?.baseType === baseType);
  }

  protected override async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path } = parseRequestUrl(req);
    const isTrack = req.method === 'POST' && /^\/v2(\.1)?\/track\/?$/i.test(path);
    const raw = await readBodyBytes(req, MAX_BODY_BYTES);
    if (!isTrack) {
      this.#counters.unexpectedRequests++;
      this.#unexpected.push(`${req.method} ${path}`);
      return sendJson(res, 404, { error: { code: 'NotFound', message: `${path} is not simulated` } });
    }
    this.#counters.trackRequests++;
    const encoding = (header(req, 'content-encoding') ?? 'identity').toLowerCase();
    const authorization = header(req, 'authorization');
    const record: IngestionRequest = {
      path,
      encoding,
      status: 200,
      items: 0,
      ...(authorization ? { authorization: authorization.split(' ')[0] } : {}),
    };
    this.#requests.push(record);

    if (this.#entra) {
      const token = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] : undefined;
      const claims = token ? await this.#entra.verifyAccessToken(token, AUDIENCE) : undefined;
      if (!claims) {
        this.#counters.unauthorized++;
        record.status = 401;
        return sendJson(res, 401, {
          itemsReceived: 0,
          itemsAccepted: 0,
          errors: [
            {
              index: 0,
              statusCode: 401,
              message: 'Local authentication is disabled: a valid Entra token is required',
            },
          ],
        });
      }
      record.tokenAudience = claims.aud;
    }

    let text: string;
    let envelopes: TelemetryEnvelope[];
    try {
      text = decode(raw, encoding);
      envelopes = parseEnvelopes(text);
    } catch (error) {
      record.status = 400;
      const message = error instanceof Error ? error.message : String(error);
      return sendJson(res, 400, {
        itemsReceived: 0,
        itemsAccepted: 0,
        errors: [{ index: 0, statusCode: 400, message }],
      });
    }
    record.items = envelopes.length;

    const injected = this.#failures.take();
    if (injected) {
      this.#counters.injectedFailures++;
      record.status = injected.status;
      return sendJson(res, injected.status, {
        itemsReceived: envelopes.length,
        itemsAccepted: 0,
        errors: envelopes.map((_, index) => ({ index, statusCode: injected.status, message: 'injected' })),
      });
    }

    this.#bodies.push(text);
    this.#envelopes.push(...envelopes);
    this.#counters.items += envelopes.length;
    return sendJson(res, 200, {
      itemsReceived: envelopes.length,
      itemsAccepted: envelopes.length,
      errors: [],
    });
  }
}

/** Starts an ingestion simulator on 127.0.0.1 (any free port unless `port` is given). */
export async function startIngestionSimulator(
  options: IngestionSimulatorOptions & { port?: number },
): Promise<IngestionSimulator> {
  const simulator = new IngestionSimulator(options);
  await simulator.start(options.port ?? 0);
  return simulator;
}

function emptyCounters(): IngestionCounters {
  return { trackRequests: 0, items: 0, unexpectedRequests: 0, unauthorized: 0, injectedFailures: 0 };
}

function decode(raw: Buffer, encoding: string): string {
  if (encoding === 'gzip') return gunzipSync(raw).toString('utf8');
  if (encoding === 'deflate') return inflateSync(raw).toString('utf8');
  if (encoding === 'identity' || encoding === '') return raw.toString('utf8');
  throw new Error(`Content-Encoding ${encoding} is not supported`);
}

/** A JSON array, one JSON object, or newline-delimited JSON objects. */
function parseEnvelopes(text: string): TelemetryEnvelope[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  try {
    const parsed = JSON.parse(trimmed) as unknown;
    return (Array.isArray(parsed) ? parsed : [parsed]).map(asEnvelope);
  } catch (error) {
    if (!trimmed.includes('\n')) throw error;
  }
  return trimmed
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => asEnvelope(JSON.parse(line) as unknown));
}

function asEnvelope(value: unknown): TelemetryEnvelope {
  if (typeof value !== 'object' || value === null || typeof (value as { name?: unknown }).name !== 'string') {
    throw new Error('every item must be an envelope object with a name');
  }
  return value as TelemetryEnvelope;
}
