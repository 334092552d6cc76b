import { odata } from '@azure/data-tables';
import { SettingsError } from '../config/settings.js';
import { CredentialError } from '../credentials/app-credential.js';
import { type HttpResult, problem, problemResult } from '../http/problem.js';
import { withoutUndefined } from '../objects/without-undefined.js';
import { type StorageClients, StorageConfigurationError } from '../storage/clients.js';
import { trackingTableNames } from '../trackings/tracking-entities.js';
import { REFRESH_TOKEN_DEGRADED_AFTER_DAYS } from './deep-health-schema.js';
import { appVersion } from './liveness.js';

export type ComponentStatus = 'healthy' | 'degraded' | 'unhealthy' | 'not_configured';

export interface ComponentHealth {
  status: ComponentStatus;
  latencyMs: number;
  /** Why a component is unhealthy or degraded: a timeout, a status code, a setting to fix. Never a secret. */
  detail?: string;
  /** `refreshToken` only: seconds since the refresh token last rotated. */
  ageSeconds?: number;
}

export interface DeepHealthReport {
  /** `degraded`: everything works, but something needs an operator before it stops working. */
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** `PARTNER_CENTER_AUTH_MODE`, when the settings can be read. */
  authMode?: string;
  version: string;
  checkedAt: string;
  durationMs: number;
  components: Record<string, ComponentHealth>;
}

/**
 * One component check: resolves when the component works, with `'not_configured'` when this
 * deployment does not use it (then it counts as healthy); rejects otherwise.
 */
export type HealthProbe = (abortSignal: AbortSignal) => Promise<'healthy' | 'not_configured' | ProbeOutcome>;

/** A probe's answer with more to say than "healthy". */
export interface ProbeOutcome {
  status: 'healthy' | 'degraded';
  detail?: string;
  ageSeconds?: number;
}

export interface DeepHealthOptions {
  /** Each check's time limit. Default 3 s. */
  timeoutMs?: number;
  /** The credential mode reported with the checks (undefined when settings are unreadable). */
  authMode?: () => string | undefined;
}

const REFRESH_TOKEN_LIFETIME_DAYS = 90;

/** The App+User refresh token's health: degraded long before Entra's 90 days, or when a rotation is not in the vault. */
export function refreshTokenHealth(
  status: { rotatedAt?: Date; writePending: boolean },
  now: Date,
): ProbeOutcome {
  const ageSeconds = status.rotatedAt
    ? Math.max(0, Math.round((now.getTime() - status.rotatedAt.getTime()) / 1000))
    : undefined;
  const ageDays = ageSeconds === undefined ? undefined : ageSeconds / 86_400;
  if (status.writePending) {
    return {
      status: 'degraded',
      ageSeconds,
      detail:
        'the last rotated refresh token could not be written to Key Vault (the app keeps using it; check its Key Vault Secrets Officer role on the secret)',
    };
  }
  if (ageDays !== undefined && ageDays >= REFRESH_TOKEN_DEGRADED_AFTER_DAYS) {
    return {
      status: 'degraded',
      ageSeconds,
      detail: `the refresh token last rotated ${Math.floor(ageDays)} days ago; unused for ${REFRESH_TOKEN_LIFETIME_DAYS} days it dies and an admin must consent again`,
    };
  }
  return {
    status: 'healthy',
    ageSeconds,
    detail: ageSeconds === undefined ? undefined : `last rotated ${formatAge(ageSeconds)} ago`,
  };
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

class ProbeTimeoutError extends Error {
  override readonly name = 'ProbeTimeoutError';
}

/**
 * The deep health check behind `GET /api/health/deep`: every component checked at once, each with
 * its own time limit, so one hung dependency costs at most `timeoutMs` and never hides the others.
 */
export class DeepHealthCheck {
  private readonly timeoutMs: number;

  constructor(
    private readonly probes: Readonly<Record<string, HealthProbe>>,
    private readonly options: DeepHealthOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async run(): Promise<DeepHealthReport> {
    const started = performance.now();
    const checkedAt = new Date().toISOString();
    const entries = await Promise.all(
      Object.entries(this.probes).map(async ([name, probe]) => [name, await this.check(probe)] as const),
    );
    const components = Object.fromEntries(entries);
    const statuses = entries.map(([, c]) => c.status);
    let authMode: string | undefined;
    try {
      authMode = this.options.authMode?.();
    } catch {
      // Unreadable settings already show as unhealthy components.
    }
    return {
      status: statuses.includes('unhealthy')
        ? 'unhealthy'
        : statuses.includes('degraded')
          ? 'degraded'
          : 'healthy',
      ...(authMode ? { authMode } : {}),
      version: appVersion(),
      checkedAt,
      durationMs: Math.round(performance.now() - started),
      components,
    };
  }

  private async check(probe: HealthProbe): Promise<ComponentHealth> {
    const started = performance.now();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // Checks that cannot be aborted (a shared vault read, a shared token request) keep running in
    // the background; the answer does not wait for them.
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new ProbeTimeoutError(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      const outcome = await Promise.race([probe(abort.signal), timedOut]);
      if (typeof outcome === 'string') return { status: outcome, latencyMs: elapsed(started) };
      return { ...withoutUndefined(outcome), latencyMs: elapsed(started) };
    } catch (error) {
      return { status: 'unhealthy', latencyMs: elapsed(started), detail: describeFailure(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** 200 with the report when all is well; otherwise 503 problem+json that carries the report too. */
export function deepHealthResult(report: DeepHealthReport, correlationId: string): HttpResult {
  if (report.status !== 'unhealthy') {
    return { status: 200, headers: { 'Cache-Control': 'no-store' }, jsonBody: report };
  }
  const failing = Object.entries(report.components)
    .filter(([, c]) => c.status === 'unhealthy')
    .map(([name, c]) => `${name} (${c.detail ?? 'failed'})`);
  const body = problem('unhealthy', {
    detail: `Not every dependency answered: ${failing.join('; ')}. The app cannot do all of its work until they recover.`,
    correlationId,
  });
  // RFC 9457 extension members: what a healthy answer reports, for monitors and people (the
  // problem's own `status` is the HTTP status; the report's 'unhealthy' is implied by it).
  const { status: _unhealthy, ...rest } = report;
  // Monitors re-check on their own schedule; Retry-After tells anything else when to look again.
  const result = problemResult(body, { 'Retry-After': '30' });
  return { ...result, jsonBody: { ...body, ...rest } };
}

/**
 * `GET /api/health?deep=true` on the anonymous liveness function: the deep check needs a function
 * key, which only the host can check, and only on a function of level `function`. So the deep check
 * is that function (`health/deep`), and this redirect sends callers there, keeping the rest of the
 * query (a key given as `?code=` travels along; `x-functions-key` is re-sent by clients).
 */
export function deepHealthRedirect(requestUrl: string): HttpResult {
  const url = new URL(requestUrl);
  url.searchParams.delete('deep');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/deep`;
  return {
    status: 307,
    headers: { Location: `${url.pathname}${url.search}`, 'Cache-Control': 'no-store' },
  };
}

/** True for `?deep=true` (any case). */
export function wantsDeepHealth(query: { get(name: string): string | null }): boolean {
  return query.get('deep')?.trim().toLowerCase() === 'true';
}

/**
 * Storage is healthy when it answers a query on the due index table: created once per process
 * (as the store does), then one tiny query per check, so it proves reachability and credentials
 * every time without writing anything.
 */
export async function probeTrackingStorage(
  clients: StorageClients,
  tablePrefix: string,
  abortSignal: AbortSignal,
): Promise<void> {
  const table = trackingTableNames(tablePrefix).due;
  await clients.ensureTable(table);
  await clients
    .tableClient(table)
    .listEntities({ abortSignal, queryOptions: { filter: odata`PartitionKey eq ${'health-probe'}` } })
    .byPage({ maxPageSize: 1 })
    .next();
}

/** A short reason fit for an anonymous-looking report: what failed, never the secret or token involved. */
function describeFailure(error: unknown): string {
  if (error instanceof ProbeTimeoutError) return error.message;
  if (error instanceof SettingsError) return error.problems.join('; ');
  if (error instanceof StorageConfigurationError || error instanceof CredentialError) {
    return error.message.slice(0, 300);
  }
  const e = error as { name?: string; statusCode?: number; code?: string };
  if (e?.name === 'RestError' || e?.name === 'AbortError') {
    if (e.statusCode !== undefined)
      return `answered ${e.statusCode}${e.code ? ` (${String(e.code).slice(0, 60)})` : ''}`;
    return `unreachable (${String(e.code ?? e.name).slice(0, 60)})`;
  }
  return e?.name ? String(e.name).slice(0, 60) : 'failed';
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
