/**
 * Caller-authentication failures, in the domain's terms: shared/http turns them into problem+json
 * (401 / 403 with `WWW-Authenticate`, 503 with `Retry-After`).
 */

/** A 401 or 403 from caller authentication; `wwwAuthenticate` is the RFC 6750 challenge for the response. */
export class CallerAuthError extends Error {
  override readonly name = 'CallerAuthError';
  constructor(
    readonly kind: 'unauthorized' | 'forbidden',
    detail: string,
    /** Value for the `WWW-Authenticate` response header. */
    readonly wwwAuthenticate: string,
  ) {
    super(detail);
  }
}

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
