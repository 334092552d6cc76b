import { expect } from 'vitest';
import { HOST_URL, type HttpHandler, type HttpInvocation, invokeRequest } from './invoke.js';

/** A request as a hostile caller may shape it: any method, raw path and query, any headers and body bytes. */
export interface RawRequest {
  method: string;
  /** Path and query as sent (already percent-encoded where the caller chose to). */
  url: string;
  /** Route parameters as the host would hand them to the function (decoded). */
  params?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export type RawResponse = HttpInvocation;

/**
 * Calls a function handler through a real HttpRequest and InvocationContext, like
 * `invokeHttp` (invoke.ts), but with the query taken from the raw URL (duplicate keys kept, as
 * the Functions host passes them) and bodies as bytes or text.
 */
export function invokeRaw(
  handler: HttpHandler,
  spec: RawRequest,
  functionName = 'test',
): Promise<RawResponse> {
  const body =
    spec.body === undefined
      ? undefined
      : typeof spec.body === 'string'
        ? { string: spec.body }
        : { bytes: spec.body };
  return invokeRequest(
    handler,
    {
      method: spec.method,
      url: new URL(spec.url, HOST_URL).toString(),
      params: spec.params ?? {},
      headers: spec.headers ?? {},
      body,
    },
    functionName,
  );
}

/**
 * Calls a function handler with a body that arrives as a stream (as with the Functions host's HTTP
 * streaming), `chunkBytes` at a time up to `totalBytes`, and reports how many bytes the handler
 * pulled from it: a handler that reads the whole body before checking its size pulls all of them.
 * (Heap measurements cannot show this: body bytes live in Buffers, outside the JS heap.)
 */
export async function invokeStreamed(
  handler: HttpHandler,
  spec: Omit<RawRequest, 'body'>,
  totalBytes: number,
  chunkBytes = 16 * 1024,
): Promise<{ res: RawResponse; bytesPulled: number }> {
  let bytesPulled = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = Math.min(chunkBytes, totalBytes - bytesPulled);
        if (size <= 0) return controller.close();
        bytesPulled += size;
        controller.enqueue(new Uint8Array(size).fill(0x20));
      },
    },
    { highWaterMark: 0 },
  );
  const url = new URL(spec.url, HOST_URL).toString();
  const nativeRequest = new Request(url, {
    method: spec.method,
    headers: spec.headers ?? {},
    body,
    duplex: 'half',
  } as RequestInit);
  const res = await invokeRequest(
    handler,
    { method: spec.method, url, params: spec.params ?? {}, nativeRequest } as Parameters<
      typeof invokeRequest
    >[1],
    'test',
  );
  return { res, bytesPulled };
}

/** What every error answer must be: RFC 9457 problem+json, matching its status, with the correlation id echoed. */
export function expectProblem(res: RawResponse, status?: number, type?: string): void {
  if (status !== undefined) expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const problem = res.json as Record<string, unknown>;
  expect(problem).toMatchObject({
    type: expect.stringMatching(/^\/problems\/[a-z-]+$/),
    title: expect.any(String),
    status: res.status,
    detail: expect.any(String),
    correlationId: res.headers.get('ms-correlationid'),
  });
  if (type !== undefined) expect(problem.type).toBe(type);
  // Never a stack trace or an internal error type name.
  expect(res.text).not.toMatch(/\bat .+\(.+:\d+:\d+\)|node:internal|TypeError|RangeError/);
}

/** The garbage collector, for memory measurements (exposed on demand, no command-line flag needed). */
export async function collectGarbage(): Promise<void> {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Runs `work` while sampling the heap every `sampleEveryMs` milliseconds, after a garbage
 * collection; resolves with its result and the peak growth over the heap it started from.
 */
export async function withHeapPeak<T>(
  work: () => Promise<T>,
  sampleEveryMs = 2,
): Promise<{ result: T; peakGrowth: number }> {
  await collectGarbage();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, sampleEveryMs);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { result, peakGrowth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}
