import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import azureFunctions, { type Cookie, type HttpResponseInit } from '@azure/functions';

// @azure/functions is a webpack-built CommonJS bundle: under native ESM, Node's export detection
// finds `app` but not the classes, so they come from the default (module.exports) import.
const { HttpRequest, HttpResponse } = azureFunctions;
type HttpRequest = InstanceType<typeof HttpRequest>;
type HttpResponse = InstanceType<typeof HttpResponse>;

/** Azure Functions rejects request bodies over 100 MB (maxRequestBodySize 104857600). */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 104_857_600;

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(readonly limit: number) {
    super(`The request body is larger than ${limit} bytes.`);
  }
}

/**
 * Reads the body into memory, refusing (before reading, when Content-Length says so, or as soon
 * as the count passes) anything over `limit`: memory use is bounded by the limit.
 */
export function readRequestBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new PayloadTooLargeError(limit));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the caller answers 413 and closes the connection.
        request.pause();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/** A real @azure/functions HttpRequest, as the worker would hand it to the handler. */
export function toFunctionsRequest(
  request: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  body: Buffer,
): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // `query` is left out on purpose: HttpRequest then reads it from the URL, which keeps repeated keys.
  return new HttpRequest({
    method: request.method ?? 'GET',
    url: url.href,
    headers,
    params,
    body: body.length > 0 ? { bytes: body } : undefined,
  });
}

/** What the library requires of an HTTP function's return value (see its toRpcHttp). */
export function toFunctionsResponse(result: unknown): HttpResponse | undefined {
  if (result === undefined || result === null) return undefined;
  if (typeof result !== 'object') {
    throw new TypeError(
      'The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".',
    );
  }
  return result instanceof HttpResponse ? result : new HttpResponse(result as HttpResponseInit);
}

/** Writes the handler's response; no response at all is `204 No Content`. */
export async function writeFunctionsResponse(
  res: ServerResponse,
  response: HttpResponse | undefined,
): Promise<void> {
  if (!response) {
    res.writeHead(204);
    res.end();
    return;
  }
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') headers[name] = value;
  }
  const setCookie = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  if (setCookie.length > 0) headers['set-cookie'] = setCookie;
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), res);
}

export function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The host's own error answers, as RFC 9457 problem details (type about:blank: plain HTTP semantics). */
export function writeProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  extraHeaders: OutgoingHttpHeaders = {},
): void {
  const body = JSON.stringify({
    type: 'about:blank',
    title: STATUS_TITLES[status] ?? 'Error',
    status,
    detail,
  });
  res.writeHead(status, {
    ...extraHeaders,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
