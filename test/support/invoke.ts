import { randomUUID } from 'node:crypto';
import { HttpRequest, type HttpResponseInit, InvocationContext, type LogLevel } from '@azure/functions';

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

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Calls a function handler the way the Functions host does: a real HttpRequest and
 * InvocationContext from @azure/functions, with the log lines captured.
 */
export async function invokeHttp(
  handler: Handler,
  spec: RequestSpec,
  functionName = 'test',
): Promise<HttpInvocation> {
  const logs: CapturedLog[] = [];
  const url = new URL(spec.url, 'http://localhost:7071');
  const request = new HttpRequest({
    method: spec.method ?? 'GET',
    url: url.toString(),
    params: spec.params,
    headers: spec.headers,
    query: Object.fromEntries(url.searchParams),
    body: spec.body === undefined ? undefined : { string: spec.body },
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
  return { status: init.status ?? 200, headers, json, text, logs };
}
