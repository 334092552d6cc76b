/**
 * Caller-authentication failures that the HTTP layer must recognise without importing
 * `caller-auth.ts`: this file imports nothing from `shared/http`, so `endpoint.ts` can import it
 * without a module cycle (caller-auth.ts extends `RequestError` and so imports endpoint.ts).
 */

/**
 * The signing keys of the caller's tenant could not be fetched (network, timeout, non-200 or
 * malformed key set). The caller did nothing wrong: answer 503 with `Retry-After`, never 401.
 */
export class CallerAuthUnavailableError extends Error {
  override readonly name = 'CallerAuthUnavailableError';
  constructor(
    message: string,
    /** Seconds after which a retry may succeed (the authenticator fails fast until then). */
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Response headers for a caller-authentication failure: `WWW-Authenticate` for a 401/403 raised
 * by `CallerAuthenticator`, `Retry-After` for {@link CallerAuthUnavailableError}, else none.
 * Duck-typed on `wwwAuthenticate` so that it needs no import of the error class itself.
 */
export function callerAuthHeaders(error: unknown): Record<string, string> {
  if (error instanceof CallerAuthUnavailableError) {
    return { 'Retry-After': String(error.retryAfterSeconds) };
  }
  const challenge = (error as { wwwAuthenticate?: unknown } | null | undefined)?.wwwAuthenticate;
  if (error instanceof Error && typeof challenge === 'string') return { 'WWW-Authenticate': challenge };
  return {};
}
