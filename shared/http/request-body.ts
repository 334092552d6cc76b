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
  const text = await call.text();
  if (Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestError('invalidRequest', 'The body is not valid JSON.', ['body: not valid JSON']);
  }
}

function tooLarge(maxBytes: number): RequestError {
  return new RequestError('payloadTooLarge', `The body must be at most ${maxBytes} bytes.`);
}
