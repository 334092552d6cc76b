import { type HttpCall, RequestError } from './endpoint.js';

/** Registration bodies are a few hundred bytes; anything far larger is refused before parsing. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON request body with bounded cost: the declared length is checked before reading,
 * the actual length after, and the content type must be JSON (415 otherwise).
 */
export async function readJsonBody(call: HttpCall, maxBytes = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const contentType = call.headers.get('content-type') ?? '';
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new RequestError(
      'unsupportedMediaType',
      'Send the body as JSON with Content-Type: application/json.',
    );
  }
  const declared = Number(call.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const text = await readText(call, maxBytes);
  if (Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestError('invalidRequest', 'The body is not valid JSON.', ['body: not valid JSON']);
  }
}

/**
 * The body as text, reading no more than `maxBytes + 1` bytes of it when it comes as a stream (as
 * @azure/functions' HttpRequest body does): a body sent without Content-Length is refused as soon
 * as it passes the limit, instead of being turned into one string first.
 */
async function readText(call: HttpCall, maxBytes: number): Promise<string> {
  const body = (call as { body?: unknown }).body;
  if (!(body instanceof ReadableStream)) return call.text();
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge(maxBytes);
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  // As Request.text() decodes: UTF-8, replacement characters for bad bytes, a leading BOM dropped.
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function tooLarge(maxBytes: number): RequestError {
  return new RequestError('payloadTooLarge', `The body must be at most ${maxBytes} bytes.`);
}
