/** What one POST to a receiver came to. */
export type WebhookAnswer =
  | { kind: 'answered'; status: number; body: string }
  | { kind: 'unreachable'; error: string };

export interface WebhookSenderOptions {
  /** Per attempt; default 10 s. */
  timeoutMs?: number;
  /** Bytes of the answer read (for `lastError`); default 1 KiB, the rest is discarded unread. */
  maxAnswerBytes?: number;
  fetch?: typeof fetch;
}

/**
 * POSTs one webhook: redirects are not followed (a 3xx is an answer like any other non-2xx), the
 * whole attempt is bounded in time, and at most a small prefix of the answer is ever read, so a
 * slow, redirecting or huge-answering receiver costs one bounded attempt and nothing more.
 */
export class WebhookSender {
  private readonly timeoutMs: number;
  private readonly maxAnswerBytes: number;
  private readonly fetch: typeof fetch;

  constructor(options: WebhookSenderOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxAnswerBytes = options.maxAnswerBytes ?? 1024;
    this.fetch = options.fetch ?? fetch;
  }

  async post(url: string, body: string, headers: Record<string, string>): Promise<WebhookAnswer> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal });
      return {
        kind: 'answered',
        status: response.status,
        body: await readPrefix(response, this.maxAnswerBytes),
      };
    } catch (error) {
      if (signal.aborted) return { kind: 'unreachable', error: `no answer within ${this.timeoutMs} ms` };
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { kind: 'unreachable', error: cause?.code ?? cause?.message ?? (error as Error).message };
    }
  }
}

async function readPrefix(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A broken answer body does not change the status that was answered.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
