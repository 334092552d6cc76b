/** What went wrong talking to Partner Center, in the terms a caller can act on. */
export type PartnerCenterFailure =
  /** Partner Center answered with an HTTP error status. */
  | 'http'
  /** Too many requests and the retry budget ran out; `retryAfterMs` says when to come back. */
  | 'throttled'
  /** The overall deadline passed before an answer came. */
  | 'timeout'
  /** No HTTP answer at all: connection refused/reset, DNS, TLS. */
  | 'network'
  /** A 2xx whose body is not a BatchUploadDetails (malformed JSON, unexpected shape, too large). */
  | 'invalid_response'
  /** The app could not obtain its own credential (Key Vault, Entra ID). */
  | 'credential';

export interface PartnerCenterErrorInit {
  failure: PartnerCenterFailure;
  statusCode?: number;
  code?: string;
  description?: string;
  requestId?: string;
  correlationId?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * The one error type of the Partner Center client, carrying the upstream facts that a support
 * ticket needs (status, code, request id) whichever of the two upstream error bodies came back.
 */
export class PartnerCenterError extends Error {
  override readonly name = 'PartnerCenterError';
  readonly failure: PartnerCenterFailure;
  readonly statusCode?: number;
  readonly code?: string;
  readonly description?: string;
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly retryAfterMs?: number;

  constructor(message: string, init: PartnerCenterErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.failure = init.failure;
    this.statusCode = init.statusCode;
    this.code = init.code;
    this.description = init.description;
    this.requestId = init.requestId;
    this.correlationId = init.correlationId;
    this.retryAfterMs = init.retryAfterMs;
  }

  get isNotFound(): boolean {
    return this.failure === 'http' && this.statusCode === 404;
  }

  get isThrottled(): boolean {
    return this.failure === 'throttled';
  }

  /** App+User: Partner Center refused a token whose sign-in had no MFA (only a new consent fixes it). */
  get isMissingMfa(): boolean {
    return this.failure === 'http' && this.statusCode === 401 && saysMfaMissing(this);
  }
}

/**
 * Partner Center's 401 for App+User tokens without MFA (required since 2026-04-01): error code
 * 900421 in partners' reports, or a description that names MFA.
 */
export function saysMfaMissing(body: { code?: string; description?: string }): boolean {
  return body.code === '900421' || /multi-?factor|\bMFA\b/i.test(body.description ?? '');
}

export function isPartnerCenterError(error: unknown): error is PartnerCenterError {
  return error instanceof PartnerCenterError;
}

export interface UpstreamErrorBody {
  code?: string;
  description?: string;
}

/** Partner Center has two error bodies: `{ code, description }` and, for 429, `{ statusCode, message }`. */
export function parseErrorBody(text: string | undefined): UpstreamErrorBody {
  if (!text) return {};
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const code = json.code ?? json.statusCode ?? (json.error as Record<string, unknown> | undefined)?.code;
    const description =
      json.description ?? json.message ?? (json.error as Record<string, unknown> | undefined)?.message;
    return {
      code: code === undefined ? undefined : String(code).slice(0, 100),
      description: typeof description === 'string' ? description.slice(0, 1024) : undefined,
    };
  } catch {
    return {};
  }
}
