import { randomUUID } from 'node:crypto';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { expect } from 'vitest';
import type { CapturedLog } from './invoke.js';

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

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
  logs: CapturedLog[];
}

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Calls a function handler through a real HttpRequest and InvocationContext, like
 * `invokeHttp` (invoke.ts), but with the query taken from the raw URL (duplicate keys kept, as
 * the Functions host passes them) and bodies as bytes or text.
 */
export async function invokeRaw(
  handler: Handler,
  spec: RawRequest,
  functionName = 'test',
): Promise<RawResponse> {
  const logs: CapturedLog[] = [];
  const url = new URL(spec.url, 'http://localhost:7071');
  const body =
    spec.body === undefined
      ? undefined
      : typeof spec.body === 'string'
        ? { string: spec.body }
        : { bytes: spec.body };
  const request = new HttpRequest({
    method: spec.method,
    url: url.toString(),
    params: spec.params ?? {},
    headers: spec.headers ?? {},
    body,
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(' ') }),
  });
  const init = await handler(request, context);
  const headers = new Headers(init.headers as Record<string, string> | undefined);
  let text = '';
  if (init.jsonBody !== undefined) text = JSON.stringify(init.jsonBody);
  else if (typeof init.body === 'string') text = init.body;
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: init.status ?? 200, headers, text, json, logs };
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
