import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { type HttpCall, RequestError } from '../../../shared/http/endpoint.js';
import { readJsonBody } from '../../../shared/http/request-body.js';
import { rejectionOf } from '../../support/rejection.js';

// readJsonBody's bounds, at their edges: the limit is `MAX` bytes, declared or actual; a streamed
// body is read no further than the limit and then cancelled.

const MAX = 64;
const URL = 'http://localhost:7071/api/trackings';

function request(body: string, headers: Record<string, string>): HttpRequest {
  return new HttpRequest({ method: 'POST', url: URL, headers, body: { string: body } });
}

/** An HttpCall whose body is a stream of `total` bytes of JSON-ish spaces, counting what is pulled. */
function streamedCall(total: number, headers: Record<string, string> = {}) {
  const seen = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = Math.min(16, total - seen.pulled);
        if (size <= 0) return controller.close();
        // `{}` padded with spaces: valid JSON at any length of at least 2.
        const chunk = new Uint8Array(size).fill(0x20);
        if (seen.pulled === 0) chunk.set([0x7b, 0x7d].slice(0, size));
        seen.pulled += size;
        controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  const call: HttpCall & { body: ReadableStream } = {
    method: 'POST',
    url: URL,
    headers: new Headers({ 'content-type': 'application/json', ...headers }),
    params: {},
    query: new URLSearchParams(),
    body,
    text: () => new Response(body).text(),
  };
  return { call, seen };
}

/** An HttpCall without a stream: the body only through text(), headers as given (untrimmed). */
function textCall(text: string, headers: Record<string, string>): HttpCall {
  const map = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: 'POST',
    url: URL,
    headers: { get: (name) => map.get(name.toLowerCase()) ?? null },
    params: {},
    query: new URLSearchParams(),
    text: async () => text,
  };
}

const refusal = (promise: Promise<unknown>) => rejectionOf(promise, RequestError);

describe('readJsonBody', () => {
  it('accepts JSON media types, structured suffixes and parameters, in any case', async () => {
    for (const type of [
      'application/json',
      'Application/JSON; charset=utf-8',
      'application/merge-patch+json',
      'application/vnd.example.v2+json',
    ]) {
      await expect(readJsonBody(request('{"a":1}', { 'content-type': type }), MAX)).resolves.toEqual({
        a: 1,
      });
    }
    // A header value as a caller's HttpCall may hand it, untrimmed.
    await expect(
      readJsonBody(textCall('[1]', { 'content-type': '  application/json ' }), MAX),
    ).resolves.toEqual([1]);
  });

  it('refuses anything else with 415', async () => {
    const refused: Record<string, string>[] = [
      {},
      { 'content-type': 'text/plain' },
      { 'content-type': 'x-application/json' },
      { 'content-type': 'application/jsonx' },
      { 'content-type': 'application/x+y/json' },
    ];
    for (const headers of refused) {
      const error = await refusal(readJsonBody(request('{}', headers), MAX));
      expect(error.kind).toBe('unsupportedMediaType');
      expect(error.message).toBe('Send the body as JSON with Content-Type: application/json.');
    }
  });

  it('takes a body of exactly the limit, declared or not, and refuses one byte more with 413', async () => {
    const exact = `{"a":"${'x'.repeat(MAX - 8)}"}`;
    expect(Buffer.byteLength(exact)).toBe(MAX);
    const json = { 'content-type': 'application/json' };
    await expect(readJsonBody(request(exact, json), MAX)).resolves.toEqual({ a: 'x'.repeat(MAX - 8) });
    await expect(readJsonBody(textCall(exact, json), MAX)).resolves.toBeDefined();
    // One byte over, counted in bytes (é is two), without a Content-Length: the length read decides.
    const over = `{"a":"${'x'.repeat(MAX - 9)}é"}`;
    const error = await refusal(readJsonBody(textCall(over, json), MAX));
    expect(error.kind).toBe('payloadTooLarge');
    expect(error.message).toBe(`The body must be at most ${MAX} bytes.`);
  });

  it('refuses a declared length over the limit without reading the body', async () => {
    const { call, seen } = streamedCall(MAX + 1, { 'content-length': String(MAX + 1) });
    expect((await refusal(readJsonBody(call, MAX))).kind).toBe('payloadTooLarge');
    expect(seen.pulled).toBe(0);
    const exact = streamedCall(MAX, { 'content-length': String(MAX) });
    await expect(readJsonBody(exact.call, MAX)).resolves.toEqual({});
  });

  it('stops reading an undeclared stream as soon as it passes the limit, and cancels it', async () => {
    const { call, seen } = streamedCall(1024 * 1024);
    expect((await refusal(readJsonBody(call, MAX))).kind).toBe('payloadTooLarge');
    expect(seen.pulled).toBeLessThanOrEqual(MAX + 16);
    expect(seen.cancelled).toBe(true);
    const exact = streamedCall(MAX);
    await expect(readJsonBody(exact.call, MAX)).resolves.toEqual({});
  });

  it('takes registration bodies up to 16 KiB by default', async () => {
    const json = { 'content-type': 'application/json' };
    const body = JSON.stringify({ label: 'x'.repeat(16 * 1024 - 12) });
    expect(Buffer.byteLength(body)).toBe(16 * 1024);
    await expect(readJsonBody(request(body, json))).resolves.toBeDefined();
    expect((await refusal(readJsonBody(request(`${body} `, json)))).kind).toBe('payloadTooLarge');
  });

  it('answers a body that is not JSON with 400 and a field error', async () => {
    const error = await refusal(readJsonBody(request('{"a":', { 'content-type': 'application/json' }), MAX));
    expect(error).toMatchObject({ kind: 'invalidRequest', message: 'The body is not valid JSON.' });
    expect(error.errors).toEqual(['body: not valid JSON']);
  });
});
