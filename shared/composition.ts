import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { CallerAuthenticator } from './auth/caller-auth.js';
import { TableThrottleStore } from './budget/budget-table.js';
import { pacedSweepReader } from './budget/paced-reader.js';
import { PartnerBudget } from './budget/partner-budget.js';
import { notificationsEnabled } from './config/notify-settings.js';
import { type Environment, loadSettings, type Settings, SettingsError } from './config/settings.js';
import {
  AppCredential,
  type CredentialMaterialSource,
  KeyVaultCredentialSource,
  StaticCredentialSource,
} from './credentials/app-credential.js';
import { AppUserCredential, userImpersonationScopes } from './credentials/app-user-credential.js';
import { KeyVaultRefreshTokenStore } from './credentials/refresh-token-store.js';
import { EntraTokenEndpoint } from './credentials/token-endpoint.js';
import { describeError } from './diagnostics/describe-error.js';
import type { Log } from './diagnostics/log.js';
import { appDeepHealthCheck } from './health/app-deep-health.js';
import type { DeepHealthCheck } from './health/deep-health.js';
import type { EndpointTelemetry } from './http/endpoint.js';
import { BatchStatusLookup, lastKnownFromRecords } from './lookup/batch-status-lookup.js';
import { NotificationServices } from './notifications/notification-services.js';
import { PartnerCenterClient } from './partner-center/client.js';
import { StorageClients } from './storage/clients.js';
import { notificationTelemetry } from './telemetry/notification-telemetry.js';
import { TelemetryReporter } from './telemetry/reporter.js';
import { SweepTelemetry } from './telemetry/sweep-telemetry.js';
import { DeferredTelemetry, noopTelemetry, type Telemetry } from './telemetry/telemetry.js';
import { ResultStore } from './trackings/result-store.js';
import { Sweeper } from './trackings/sweep.js';
import { SweepScheduler } from './trackings/sweep-scheduler.js';
import { TrackingRecords } from './trackings/tracking-records.js';
import { TrackingRepository } from './trackings/tracking-repository.js';
import { TrackingService } from './trackings/tracking-service.js';

/**
 * The one composition root. Long-lived clients are built lazily, once per process, on first use,
 * and every function reuses them: a warm instance never rebuilds clients or re-reads secrets per
 * invocation, and nothing here touches the network at module load.
 */
export class AppServices {
  private cache = new Map<string, unknown>();

  constructor(private readonly env: Environment = process.env) {}

  get settings(): Settings {
    return this.once('settings', () => loadSettings(this.env));
  }

  /** DefaultAzureCredential: managed identity in Azure, developer login (or env) locally. */
  get azureCredential(): TokenCredential {
    return this.once(
      'azureCredential',
      () =>
        new DefaultAzureCredential({
          disableInstanceDiscovery: this.settings.loopbackCloud,
          authorityHost: this.settings.credential.authorityHost,
        }),
    );
  }

  get appCredential(): AppCredential {
    return this.once('appCredential', () => {
      const { partnerCenter, credential, loopbackCloud } = this.settings;
      const missing = [
        partnerCenter.tenantId ? undefined : 'PARTNER_CENTER_TENANT_ID is not set',
        partnerCenter.clientId ? undefined : 'PARTNER_CENTER_CLIENT_ID is not set',
        credential.keyVaultUrl || credential.localClientSecret
          ? undefined
          : 'KEY_VAULT_URL is not set (or, for local development only, PARTNER_CENTER_CLIENT_SECRET)',
      ].filter((p): p is string => p !== undefined);
      if (missing.length > 0) throw new SettingsError(missing);
      return new AppCredential({
        tenantId: partnerCenter.tenantId!,
        clientId: partnerCenter.clientId!,
        source: this.credentialSource(),
        cacheTtlMs: credential.cacheTtlMs,
        authorityHost: credential.authorityHost,
        disableInstanceDiscovery: loopbackCloud,
      });
    });
  }

  /**
   * App+User (`PARTNER_CENTER_AUTH_MODE=app_user`): the refresh token in Key Vault, exchanged for
   * user tokens and written back on every rotation. The app's own secret or certificate (read by
   * `appCredential`) authenticates the exchange.
   */
  get appUserCredential(): AppUserCredential {
    return this.once('appUserCredential', () => {
      const { refreshTokens, endpoint, scope } = this.secureApplicationModel;
      return new AppUserCredential({
        appMaterial: this.appCredential,
        refreshTokens,
        endpoint,
        scope,
        onEvent: (event) => {
          this.telemetryReporter.refreshTokenEvent(event);
          // Outside any invocation, so to the worker's stderr (the host's log). Never the token.
          if (event.kind !== 'rotation_written') {
            process.stderr.write(`App+User credential: ${event.kind}: ${event.reason}\n`);
          }
        },
      });
    });
  }

  /** The refresh token's vault secret, the tenant's token endpoint and the scopes: shared with `npm run consent`. */
  get secureApplicationModel(): {
    refreshTokens: KeyVaultRefreshTokenStore;
    endpoint: EntraTokenEndpoint;
    scope: string;
  } {
    return this.once('secureApplicationModel', () => {
      const { partnerCenter, credential } = this.settings;
      if (!credential.keyVaultUrl) {
        throw new SettingsError([
          'KEY_VAULT_URL is not set: PARTNER_CENTER_AUTH_MODE=app_user keeps the refresh token in Key Vault and writes each rotated one back there',
        ]);
      }
      // Validates the tenant and client ids (and builds nothing that touches the network).
      void this.appCredential;
      return {
        refreshTokens: new KeyVaultRefreshTokenStore(this.secretClient, credential.refreshTokenSecretName),
        endpoint: new EntraTokenEndpoint({
          tenantId: partnerCenter.tenantId!,
          clientId: partnerCenter.clientId!,
          authorityHost: credential.authorityHost,
        }),
        scope: userImpersonationScopes(partnerCenter.scope),
      };
    });
  }

  /** What the Partner Center client authenticates with, in the configured mode. */
  get partnerCenterCredential(): AppCredential | AppUserCredential {
    return this.settings.credential.authMode === 'app_user' ? this.appUserCredential : this.appCredential;
  }

  get partnerCenter(): PartnerCenterClient {
    return this.once('partnerCenter', () => {
      const pc = this.settings.partnerCenter;
      const appUser = this.settings.credential.authMode === 'app_user';
      return new PartnerCenterClient(pc.baseUrl, this.partnerCenterCredential, {
        scope: appUser ? userImpersonationScopes(pc.scope).split(' ')[0] : pc.scope,
        locale: pc.locale,
        applicationName: pc.applicationName,
        retryOptions: { maxRetries: pc.maxRetries },
        attemptTimeoutMs: pc.attemptTimeoutMs,
        deadlineMs: pc.deadlineMs,
        maxRetryAfterMs: pc.maxRetryAfterMs,
        maxConcurrentCalls: pc.maxConcurrentCalls,
        maxResponseBytes: pc.maxResponseBytes,
        onResponse: (info) => this.telemetryReporter.upstreamResponse(info),
        onThrottled: (retryAfterMs, priority) => this.partnerBudget.throttled(retryAfterMs, priority),
      });
    });
  }

  /** Partner Center's partner-wide budget as this instance shares it (with the others, through storage). */
  get partnerBudget(): PartnerBudget {
    return this.once('partnerBudget', () => {
      const { storage, budget } = this.settings;
      return new PartnerBudget({
        maxCallsPerMinute: budget.sweepMaxCallsPerMinute,
        shared: storage.connection
          ? TableThrottleStore.fromClients(this.storageClients, storage.tablePrefix)
          : undefined,
      });
    });
  }

  get batchStatusLookup(): BatchStatusLookup {
    return this.once('batchStatusLookup', () => {
      // Without tracking storage the lookup still works, live only.
      const stored = this.settings.storage.connection ? this : undefined;
      return new BatchStatusLookup({
        reader: this.partnerCenter,
        results: stored?.resultStore,
        writeThrough: stored && {
          recordTerminal: async (key, details) => {
            await stored.trackingRepository.recordTerminal(key, details, new Date());
          },
        },
        onWriteThroughFailure: (failure) => {
          const { key, error } = failure;
          // The invocation's log carries the lookup's correlation id.
          failure.log?.warn('A terminal answer could not be stored; the sweep stores it on its next pass', {
            ...key,
            error: describeError(error),
          });
          this.telemetryReporter.writeThroughFailed(failure);
        },
        lastKnown: stored && lastKnownFromRecords(stored.trackingRepository),
        partnerThrottled: () => this.partnerBudget.isThrottled(),
      });
    });
  }

  get storageClients(): StorageClients {
    return this.once('storageClients', () => {
      const { connection } = this.settings.storage;
      if (!connection) {
        throw new SettingsError([
          'TRACKING_STORAGE (or AzureWebJobsStorage) is not set: tracking needs a storage account',
        ]);
      }
      const credential = connection.kind === 'identity' ? this.storageCredential : undefined;
      return new StorageClients(connection, { credential });
    });
  }

  /** Identity-based tracking storage: the managed identity its connection names. */
  private get storageCredential(): TokenCredential {
    return this.once('storageCredential', () => {
      const { connection } = this.settings.storage;
      const clientId = connection?.kind === 'identity' ? connection.managedIdentityClientId : undefined;
      return new DefaultAzureCredential({ managedIdentityClientId: clientId });
    });
  }

  get resultStore(): ResultStore {
    return this.once('resultStore', () =>
      ResultStore.fromClients(this.storageClients, this.settings.storage.resultContainer),
    );
  }

  /**
   * The tracking records both stores share. Its outcome observer hears of every registration and
   * every transition to a final state, whoever writes it (sweep, live lookup, caller's cancel):
   * telemetry listens there (see shared/trackings/outcomes.ts).
   */
  get trackingRecords(): TrackingRecords {
    return this.once('trackingRecords', () =>
      TrackingRecords.fromClients(this.storageClients, this.settings.storage, {
        results: this.resultStore,
        outcomes: this.telemetryReporter.trackingOutcomes,
        notifier: notificationsEnabled(this.settings.notify) ? this.notifications.notifier : undefined,
      }),
    );
  }

  /** Caller side: register, get, list, cancel, and a live lookup's write-through. */
  get trackingRepository(): TrackingRepository {
    return this.once('trackingRepository', () => new TrackingRepository(this.trackingRecords));
  }

  /** Sweep side: the due index, claims, and writing verdicts. */
  get sweepScheduler(): SweepScheduler {
    return this.once('sweepScheduler', () => new SweepScheduler(this.trackingRecords));
  }

  /** Completion webhooks: the delivery queue, the notifier, the queue trigger's delivery. */
  get notifications(): NotificationServices {
    return this.once(
      'notifications',
      () =>
        new NotificationServices({
          settings: () => this.settings,
          storageCredential: () => this.storageCredential,
          secretClient: () => this.secretClient,
          records: () => this.trackingRepository,
          observer: () => notificationTelemetry(this.telemetry),
        }),
    );
  }

  get trackingService(): TrackingService {
    return this.once(
      'trackingService',
      () =>
        new TrackingService({
          store: this.trackingRepository,
          results: this.resultStore,
          allowedWebhookHosts: this.settings.notify.allowedHosts,
        }),
    );
  }

  /** A sweeper per run: it carries the run's log; the clients behind it are shared. */
  sweeper(log?: Log): Sweeper {
    const { sweep } = this.settings;
    return new Sweeper({
      scheduler: this.sweepScheduler,
      results: this.resultStore,
      reader: pacedSweepReader(this.partnerCenter, this.partnerBudget, Date.now() + sweep.timeBudgetMs),
      settings: sweep,
      gate: this.partnerBudget,
      log,
    });
  }

  /**
   * Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set, else a no-op. Started by
   * the first invocation that runs through it (`runInvocation`), never at module load: without a
   * connection string the SDK is not even imported.
   */
  get telemetry(): DeferredTelemetry {
    return this.once('telemetry', () => new DeferredTelemetry(() => this.startTelemetry()));
  }

  get telemetryReporter(): TelemetryReporter {
    return this.once('telemetryReporter', () => new TelemetryReporter(this.telemetry));
  }

  /** For `runHttpEndpoint`'s `telemetry` option. */
  get endpointTelemetry(): EndpointTelemetry {
    return this.once('endpointTelemetry', () => ({
      runInvocation: (scope, work) => this.telemetry.runInvocation(scope, work),
      requestFailed: (failure) => this.telemetryReporter.requestFailed(failure),
    }));
  }

  /** Reports each sweep run and the backlog it leaves. */
  get sweepTelemetry(): SweepTelemetry {
    return this.once('sweepTelemetry', () => new SweepTelemetry(this.telemetryReporter, this.sweepScheduler));
  }

  /** `GET /api/health/deep` (shared/health/app-deep-health.ts). */
  get deepHealth(): DeepHealthCheck {
    return this.once('deepHealth', () => appDeepHealthCheck(this));
  }

  /** Optional Entra ID check of callers (CALLER_AUTH_*); a no-op when not configured. */
  get callerAuthenticator(): CallerAuthenticator {
    return this.once('callerAuthenticator', () => new CallerAuthenticator(this.settings.callerAuth));
  }

  /** For `runHttpEndpoint`'s `authorize` option: function keys are the host's, tokens are ours. */
  readonly authorizeCaller = (call: { headers: { get(name: string): string | null } }) =>
    this.callerAuthenticator.authenticate(call.headers);

  /** One SecretClient for the vault (KEY_VAULT_URL): the app credential, the refresh token, the signing secret. */
  private get secretClient(): SecretClient {
    return this.once('secretClient', () => {
      const { credential, loopbackCloud } = this.settings;
      return new SecretClient(credential.keyVaultUrl!, this.azureCredential, {
        // A local vault cannot be in the *.vault.azure.net domain the SDK otherwise insists on.
        disableChallengeResourceVerification: loopbackCloud,
      });
    });
  }

  private credentialSource(): CredentialMaterialSource {
    const { credential } = this.settings;
    if (credential.keyVaultUrl) {
      return new KeyVaultCredentialSource(this.secretClient, credential.secretName);
    }
    return new StaticCredentialSource(credential.localClientSecret!);
  }

  private async startTelemetry(): Promise<Telemetry> {
    const { telemetry, runningInAzure, credential, loopbackCloud } = this.settings;
    if (!telemetry.connectionString) return noopTelemetry;
    // Local authentication is disabled on the resource in Azure: telemetry goes with a token.
    const entra = telemetry.entraAuthentication ?? (runningInAzure ? {} : undefined);
    const tokenCredential = !entra
      ? undefined
      : entra.clientId
        ? new DefaultAzureCredential({
            managedIdentityClientId: entra.clientId,
            authorityHost: credential.authorityHost,
            disableInstanceDiscovery: loopbackCloud,
          })
        : this.azureCredential;
    const { startApplicationInsights } = await import('./telemetry/app-insights.js');
    return startApplicationInsights({
      connectionString: telemetry.connectionString,
      credential: tokenCredential,
    });
  }

  /** Builds a value once; a failed build (bad settings) is not cached, so a fix needs no restart. */
  private once<T>(name: string, build: () => T): T {
    if (this.cache.has(name)) return this.cache.get(name) as T;
    const value = build();
    this.cache.set(name, value);
    return value;
  }
}

let current: AppServices | undefined;

/** The process-wide services used by the functions. */
export function services(): AppServices {
  current ??= new AppServices();
  return current;
}
