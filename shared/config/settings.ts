import { z } from 'zod';
import { type NotifySettings, readNotifySettings } from './notify-settings.js';
import { type PartnerCenterSettings, readPartnerCenterSettings } from './partner-center-settings.js';
import { guid, httpsUrl, positiveInt, text } from './setting-schemas.js';
import { readStorageConnection } from './storage-connection.js';

/**
 * Every setting of the app, read and validated in one place. Nothing else reads `process.env`.
 *
 * Settings are parsed on first use, never at module load: a throw at load time would hide every
 * function of the app from the Functions host. A bad value fails with a message that names the
 * setting and says what is wrong, never with a stack trace from deep inside an SDK.
 */
export type { PartnerCenterSettings } from './partner-center-settings.js';

export interface Settings {
  partnerCenter: PartnerCenterSettings;
  credential: CredentialSettings;
  storage: StorageSettings;
  sweep: SweepSettings;
  budget: { sweepMaxCallsPerMinute: number };
  telemetry: TelemetrySettings;
  callerAuth: CallerAuthSettings;
  notify: NotifySettings;
  /** True on an Azure Functions instance (WEBSITE_INSTANCE_ID is set by the platform only). */
  runningInAzure: boolean;
  /** True when Key Vault or the token authority is a loopback stand-in (docs/design.md, "Local stand-ins"). */
  loopbackCloud: boolean;
}

export type PartnerCenterAuthMode = 'app' | 'app_user';

export interface CredentialSettings {
  /** `app`: client-credentials tokens. `app_user`: the secure application model (a rotating refresh token). */
  authMode: PartnerCenterAuthMode;
  keyVaultUrl?: string;
  secretName: string;
  /** `app_user` only: the Key Vault secret holding the refresh token (each rotated one is a new version). */
  refreshTokenSecretName: string;
  /** Local development only; refused when running in Azure. */
  localClientSecret?: string;
  cacheTtlMs: number;
  authorityHost?: string;
}

export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string; settingName: string }
  | {
      kind: 'identity';
      tableServiceUri: string;
      blobServiceUri: string;
      /** Client id of a user-assigned managed identity, when `__clientId` is set. */
      managedIdentityClientId?: string;
      settingName: string;
    };

export interface StorageSettings {
  /** Absent when neither TRACKING_STORAGE nor AzureWebJobsStorage is configured. */
  connection?: StorageConnection;
  tablePrefix: string;
  resultContainer: string;
}

export interface SweepSettings {
  schedule: string;
  concurrency: number;
  timeBudgetMs: number;
  maxClaimsPerRun: number;
  leaseMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  maxTrackingAgeMs: number;
  notFoundGraceMs: number;
}

export interface TelemetrySettings {
  connectionString?: string;
  /**
   * From APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`Authorization=AAD[;ClientId=…]`): telemetry is
   * sent with an Entra ID token, as a resource with local authentication disabled requires.
   */
  entraAuthentication?: { clientId?: string };
}

/**
 * Entra ID checks of callers: off without an audience; with one, the tenant is always there, a
 * lower-case GUID (`tid` is always a GUID, so a domain name could never match a token). Checked
 * here only.
 */
export type CallerAuthSettings = {
  requiredRole?: string;
  authorityHost: string;
} & (
  | { audience?: undefined; tenantId?: string }
  | {
      /** HTTP callers must also present an Entra ID bearer token for this audience. */
      audience: string;
      tenantId: string;
    }
);

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(readonly problems: string[]) {
    super(`Invalid app settings: ${problems.join('; ')}`);
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Key Vault secret names: 1-127 letters, digits and dashes. */
const keyVaultSecretName = text.regex(/^[0-9A-Za-z-]{1,127}$/, 'must be 1-127 letters, digits and dashes');

/** Six-field NCRONTAB (sec min hour day month day-of-week), as the Functions timer trigger expects. */
const ncrontab = text.refine(
  (v) => v.split(/\s+/).length === 6,
  'must be an NCRONTAB expression with six fields',
);

type Field<T> = { name: string; schema: z.ZodType<T>; fallback?: string };

/** Reads settings from an environment (process.env by default); throws SettingsError listing every bad setting. */
export function loadSettings(env: Environment = process.env): Settings {
  const problems: string[] = [];

  function read<T>(name: string, schema: z.ZodType<T>, fallback?: string): T | undefined {
    const raw = env[name]?.trim() ? env[name] : fallback;
    if (raw === undefined) return undefined;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    problems.push(
      `${name} ${parsed.error.issues.map((i) => i.message).join(', ')} (got ${describe(name, raw)})`,
    );
    return undefined;
  }
  function withDefault<T>(field: Field<T>): T {
    return read(field.name, field.schema, field.fallback) as T;
  }

  const runningInAzure = Boolean(env.WEBSITE_INSTANCE_ID?.trim());

  const keyVaultUrl = read('KEY_VAULT_URL', httpsUrl);
  const authorityHost = read('AZURE_AUTHORITY_HOST', httpsUrl);
  const localClientSecret = read('PARTNER_CENTER_CLIENT_SECRET', text);
  if (localClientSecret !== undefined && runningInAzure) {
    problems.push(
      'PARTNER_CENTER_CLIENT_SECRET is for local development only and is refused when running in Azure: put the secret in Key Vault and set KEY_VAULT_URL',
    );
  }

  const partnerCenter = readPartnerCenterSettings(read);

  const credential: CredentialSettings = {
    authMode: withDefault({
      name: 'PARTNER_CENTER_AUTH_MODE',
      schema: z.enum(['app', 'app_user'], { error: "must be 'app' or 'app_user'" }),
      fallback: 'app',
    }),
    keyVaultUrl,
    secretName: withDefault({
      name: 'PARTNER_CENTER_SECRET_NAME',
      schema: text,
      fallback: 'partner-center-app-secret',
    }),
    refreshTokenSecretName: withDefault({
      name: 'PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME',
      schema: keyVaultSecretName,
      fallback: 'partner-center-refresh-token',
    }),
    localClientSecret: runningInAzure ? undefined : localClientSecret,
    cacheTtlMs:
      withDefault({ name: 'CREDENTIAL_CACHE_TTL_SECONDS', schema: positiveInt(86_400), fallback: '900' }) *
      1000,
    authorityHost,
  };

  const storage: StorageSettings = {
    connection: readStorageConnection(env, problems),
    tablePrefix: withDefault({
      name: 'TRACKING_TABLE_PREFIX',
      schema: text.regex(
        /^[A-Za-z][A-Za-z0-9]{0,31}$/,
        'must be letters and digits, starting with a letter, at most 32',
      ),
      fallback: 'batchstatus',
    }),
    resultContainer: withDefault({
      name: 'TRACKING_RESULT_CONTAINER',
      schema: text.regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid blob container name'),
      fallback: 'batch-results',
    }),
  };

  const sweep: SweepSettings = {
    schedule: withDefault({ name: 'SWEEP_SCHEDULE', schema: ncrontab, fallback: '0 */5 * * * *' }),
    concurrency: withDefault({ name: 'SWEEP_CONCURRENCY', schema: positiveInt(256), fallback: '16' }),
    timeBudgetMs:
      withDefault({ name: 'SWEEP_TIME_BUDGET_SECONDS', schema: positiveInt(3600), fallback: '480' }) * 1000,
    maxClaimsPerRun: withDefault({
      name: 'SWEEP_MAX_TRACKINGS_PER_RUN',
      schema: positiveInt(1_000_000),
      fallback: '20000',
    }),
    leaseMs:
      withDefault({ name: 'SWEEP_LEASE_SECONDS', schema: positiveInt(86_400), fallback: '600' }) * 1000,
    initialBackoffMs:
      withDefault({ name: 'SWEEP_INITIAL_BACKOFF_SECONDS', schema: positiveInt(86_400), fallback: '60' }) *
      1000,
    maxBackoffMs:
      withDefault({ name: 'SWEEP_MAX_BACKOFF_SECONDS', schema: positiveInt(86_400), fallback: '3600' }) *
      1000,
    maxTrackingAgeMs:
      withDefault({ name: 'TRACKING_MAX_AGE_HOURS', schema: positiveInt(24 * 365), fallback: '72' }) *
      3_600_000,
    notFoundGraceMs:
      withDefault({
        name: 'TRACKING_NOT_FOUND_GRACE_MINUTES',
        schema: positiveInt(7 * 24 * 60),
        fallback: '30',
      }) * 60_000,
  };
  if (credential.authMode === 'app_user' && credential.refreshTokenSecretName === credential.secretName) {
    problems.push(
      'PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME must differ from PARTNER_CENTER_SECRET_NAME: the refresh token and the app credential are separate secrets',
    );
  }

  if (sweep.initialBackoffMs > sweep.maxBackoffMs) {
    problems.push('SWEEP_INITIAL_BACKOFF_SECONDS must not exceed SWEEP_MAX_BACKOFF_SECONDS');
  }

  const sweepMaxCallsPerMinute = read('SWEEP_MAX_CALLS_PER_MINUTE', positiveInt(100_000), '600') as number;
  const telemetry: TelemetrySettings = {
    connectionString: read(
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      text.refine((v) => /InstrumentationKey=/i.test(v), 'must contain InstrumentationKey='),
    ),
    entraAuthentication: read('APPLICATIONINSIGHTS_AUTHENTICATION_STRING', telemetryAuthentication),
  };

  const callerAudience = read('CALLER_AUTH_AUDIENCE', text);
  const problemsBeforeTenant = problems.length;
  const callerTenantId = read('CALLER_AUTH_TENANT_ID', guid)?.toLowerCase();
  // A tenant that is set but no GUID has its problem already; only a missing one is added here.
  if (callerAudience && !callerTenantId && problems.length === problemsBeforeTenant) {
    problems.push('CALLER_AUTH_TENANT_ID is required (the tenant GUID) when CALLER_AUTH_AUDIENCE is set');
  }
  const callerAuth: CallerAuthSettings = {
    ...(callerAudience
      ? { audience: callerAudience, tenantId: callerTenantId ?? '' }
      : { tenantId: callerTenantId }),
    requiredRole: read('CALLER_AUTH_REQUIRED_ROLE', text),
    authorityHost: authorityHost ?? DEFAULT_AUTHORITY_HOST,
  };

  const notify = readNotifySettings(read, problems, runningInAzure, storage.connection);
  if (problems.length > 0) throw new SettingsError(problems);

  return {
    partnerCenter,
    credential,
    storage,
    sweep,
    budget: { sweepMaxCallsPerMinute },
    telemetry,
    callerAuth,
    notify,
    runningInAzure,
    loopbackCloud: isLoopback(keyVaultUrl) || isLoopback(authorityHost),
  };
}

/** `Authorization=AAD`, optionally `;ClientId=<client id of a user-assigned managed identity>`, any order. */
const telemetryAuthentication = text.transform((value, ctx) => {
  const fields = new Map<string, string>();
  for (const part of value.split(';').filter((p) => p.trim() !== '')) {
    const [name, ...rest] = part.split('=');
    fields.set(name!.trim().toLowerCase(), rest.join('=').trim());
  }
  const clientId = fields.get('clientid');
  if (
    fields.get('authorization')?.toUpperCase() !== 'AAD' ||
    (clientId !== undefined && !guid.safeParse(clientId).success)
  ) {
    ctx.addIssue({
      code: 'custom',
      message:
        "must be 'Authorization=AAD', optionally with ';ClientId=<managed identity client id (a GUID)>'",
    });
    return z.NEVER;
  }
  return clientId ? { clientId } : {};
});

function isLoopback(url: string | undefined): boolean {
  return url !== undefined && LOOPBACK_HOSTS.has(new URL(url).hostname);
}

/** Names a bad value without echoing anything that could be a secret. */
function describe(name: string, raw: string): string {
  if (/SECRET|KEY|CONNECTION|STORAGE|PASSWORD|WEBHOOK/i.test(name)) return 'a value that is not shown';
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}
