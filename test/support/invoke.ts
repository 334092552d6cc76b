import { randomUUID } from 'node:crypto';
import {
  HttpRequest,
  type HttpRequestInit,
  type HttpResponseInit,
  InvocationContext,
  type LogLevel,
} from '@azure/functions';

export interface CapturedLog {
  level: LogLevel;
  message: string;
}

export interface HttpInvocation {
  status: number;
  headers: Headers;
  /** Parsed JSON body, when there was one. */
  json: unknown;
  text: string;
  logs: CapturedLog[];
}

export interface RequestSpec {
  method?: string;
  url: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

/** A customer's batch, or the tracking of it. */
export interface BatchKey {
  customerId: string;
  trackingId: string;
}

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Where relative request URLs point, as on the local Functions host. */
export const HOST_URL = 'http://localhost:7071';

/**
 * An InvocationContext as the Functions host makes one, its log lines captured into `logs`, and
 * with the host's trace context when `traceParent` is given.
 */
export function invocationContext(
  functionName: string,
  logs: CapturedLog[],
  traceParent?: string,
): InvocationContext {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    ...(traceParent ? { traceContext: { traceParent, traceState: 'host=functions' } } : {}),
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(' ') }),
  });
}

/**
 * Calls a function handler with a real HttpRequest made from `init` and a real InvocationContext
 * (see {@link invocationContext}), and reads the answer back as a caller would (the body as text,
 * and parsed when it is JSON).
 */
export async function invokeRequest(
  handler: HttpHandler,
  init: HttpRequestInit,
  functionName: string,
  traceParent?: string,
): Promise<HttpInvocation> {
  const logs: CapturedLog[] = [];
  const answer = await handler(new HttpRequest(init), invocationContext(functionName, logs, traceParent));
  const headers = new Headers(answer.headers as Record<string, string> | undefined);
  let text = '';
  if (answer.jsonBody !== undefined) text = JSON.stringify(answer.jsonBody);
  else if (typeof answer.body === 'string') text = answer.body;
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: answer.status ?? 200, headers, json, text, logs };
}

/**
 * Calls a function handler the way the Functions host does: a real HttpRequest and
 * InvocationContext from @azure/functions, with the log lines captured.
 */
export function invokeHttp(
  handler: HttpHandler,
  spec: RequestSpec,
  functionName = 'test',
): Promise<HttpInvocation> {
  const url = new URL(spec.url, HOST_URL);
  return invokeRequest(
    handler,
    {
      method: spec.method ?? 'GET',
      url: url.toString(),
      params: spec.params,
      headers: spec.headers,
      query: Object.fromEntries(url.searchParams),
      body: spec.body === undefined ? undefined : { string: spec.body },
    },
    functionName,
  );
}

/** The live lookup (`getBatchStatus`) of a batch, routed as the host routes it; `query` starts with `?`. */
export function invokeLookup(
  getBatchStatus: HttpHandler,
  batch: BatchKey,
  options: { headers?: Record<string, string>; query?: string } = {},
): Promise<HttpInvocation> {
  return invokeHttp(
    getBatchStatus,
    {
      url: `/api/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}${options.query ?? ''}`,
      params: { customerId: batch.customerId, trackingId: batch.trackingId },
      headers: options.headers,
    },
    'getBatchStatus',
  );
}

/** `GET /api/trackings/{customerId}/{trackingId}` through the `getTracking` function. */
export function invokeGetTracking(getTracking: HttpHandler, key: BatchKey): Promise<HttpInvocation> {
  return invokeHttp(
    getTracking,
    {
      url: `/api/trackings/${key.customerId}/${key.trackingId}`,
      params: { customerId: key.customerId, trackingId: key.trackingId },
    },
    'getTracking',
  );
}

/** `POST /api/trackings` with `body` as JSON through the `registerTracking` function. */
export function invokeRegister(registerTracking: HttpHandler, body: unknown): Promise<HttpInvocation> {
  return invokeHttp(
    registerTracking,
    {
      method: 'POST',
      url: '/api/trackings',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    },
    'registerTracking',
  );
}
