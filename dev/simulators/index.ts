import { REFRESH_TOKEN_CONTENT_TYPE } from '../../shared/credentials/refresh-token-store.js';
import { EntraSimulator } from './entra.js';
import type { SimulatedUser, UserGrantOptions } from './entra-user-grants.js';
import { KeyVaultSimulator } from './key-vault.js';
import { PartnerCenterSimulator } from './partner-center.js';
import {
  type ClientCertificate,
  createClientCertificate,
  createLocalTlsCertificate,
  type TlsMaterial,
} from './tls.js';

export type {
  AccessTokenClaims,
  EntraApplication,
  EntraCounters,
  EntraFailure,
  IssueTokenOptions,
} from './entra.js';
export { accessTokenIssuer, EntraSimulator } from './entra.js';
export type { SimulatedUser, UserGrantCounters, UserGrantOptions } from './entra-user-grants.js';
export { DEFAULT_SIMULATED_USER } from './entra-user-grants.js';
export type { KeyVaultCounters, KeyVaultFailure, SecretVersionRef, SetSecretOptions } from './key-vault.js';
export { KeyVaultSimulator } from './key-vault.js';
export type {
  BatchUploadDetails,
  CreateBatchOptions,
  CreatedBatch,
  DeviceSpec,
  DeviceUploadDetails,
  InjectOptions,
  PartnerCenterCounters,
  PartnerCenterFault,
  RecordedRequest,
} from './partner-center.js';
export {
  DEVICE_ERRORS,
  DOCS_EXAMPLE_BATCH,
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  PartnerCenterSimulator,
} from './partner-center.js';
export type { ClientCertificate, TlsMaterial } from './tls.js';
export { createClientCertificate, createLocalTlsCertificate } from './tls.js';

/** Defaults of {@link startSimulators}: fixed, so local settings stay valid across runs. */
export const SIMULATOR_DEFAULTS = {
  tenantId: '6f1d3c2b-8a4e-4d7f-9b1c-2e5a7d9f0c31',
  clientId: '3b8e5f1a-7c2d-4e9b-a6f0-1d4c8b2e7a95',
  clientSecret: 'pc~local-simulator-app-secret-0001',
  developerClientId: 'a7c4e2d9-1f3b-4a8e-9d6c-5b2f0e8a1c47',
  developerClientSecret: 'dev~local-simulator-developer-secret',
  secretName: 'partner-center-app-secret',
  refreshTokenSecretName: 'partner-center-refresh-token',
} as const;

/** {@link StartSimulatorsOptions.appUser}: the secure application model, as after an admin's consent. */
export interface AppUserSimulation {
  /** Store a consented refresh token in the vault at start (default true); false leaves it to `npm run consent`. */
  consented?: boolean;
  /** Who consented; `mfa` (default true) decides the tokens' `amr`. */
  user?: Partial<SimulatedUser>;
  /** Partner Center refuses tokens without MFA (default true, as since 2026-04-01). */
  requireMfa?: boolean;
}

/** Options of {@link startSimulators}. */
export interface StartSimulatorsOptions {
  /** Server certificate for all three; generated when omitted (then trust it yourself). */
  tls?: TlsMaterial;
  /** Fixed ports; default 0 (any free port) for each. */
  ports?: { entra?: number; keyVault?: number; partnerCenter?: number };
  /** The partner tenant: the apps' tenant, the vault's tenant, the only one Partner Center accepts. */
  tenantId?: string;
  /** The Partner Center app registration. */
  clientId?: string;
  clientSecret?: string;
  /**
   * What the vault holds under {@link secretName}: the client secret (default), or a generated PEM
   * certificate + key (content type `application/x-pem-file`) registered on the app.
   */
  appCredential?: 'secret' | 'certificate';
  /** The "developer login" that `DefaultAzureCredential` finds through `AZURE_CLIENT_*`; only it may read the vault. */
  developer?: { clientId?: string; clientSecret?: string };
  /** Key Vault secret name of the app credential. Default `partner-center-app-secret`. */
  secretName?: string;
  /** Clock for all three (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** Entra's refresh-token rotation and device codes (see entra-user-grants.ts). */
  userGrants?: UserGrantOptions;
  /**
   * App+User: Partner Center accepts only `user_impersonation` user tokens, the settings say
   * `PARTNER_CENTER_AUTH_MODE=app_user`, and (unless `consented: false`) the vault holds a refresh token.
   */
  appUser?: AppUserSimulation;
}

/** Credentials of an app registered in the Entra simulator. */
export interface SimulatedApp {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Set when `appCredential: 'certificate'`. */
  certificate?: ClientCertificate;
}

/** What {@link startSimulators} returns. */
export interface RunningSimulators {
  tls: TlsMaterial;
  entra: EntraSimulator;
  keyVault: KeyVaultSimulator;
  partnerCenter: PartnerCenterSimulator;
  /** The Partner Center app (its credential is also in the vault). */
  app: SimulatedApp;
  /** The identity behind `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`. */
  developer: SimulatedApp;
  /**
   * Settings for an app using the simulators: `PARTNER_CENTER_BASE_URL`, `PARTNER_CENTER_TENANT_ID`,
   * `PARTNER_CENTER_CLIENT_ID`, `KEY_VAULT_URL`, `PARTNER_CENTER_SECRET_NAME`, `AZURE_AUTHORITY_HOST`,
   * `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`. (`NODE_EXTRA_CA_CERTS` is the caller's:
   * it must name a file holding `tls.cert` before the app's process starts.)
   */
  env: Record<string, string>;
  /** Stops all three. */
  stop(): Promise<void>;
}

/**
 * Starts the Entra, Key Vault and Partner Center simulators on 127.0.0.1 with one certificate,
 * registers the Partner Center app and the developer identity, and stores the app credential in
 * the vault.
 */
export async function startSimulators(options: StartSimulatorsOptions = {}): Promise<RunningSimulators> {
  const tls = options.tls ?? (await createLocalTlsCertificate());
  const tenantId = options.tenantId ?? SIMULATOR_DEFAULTS.tenantId;
  const secretName = options.secretName ?? SIMULATOR_DEFAULTS.secretName;
  const now = options.now;
  const app: SimulatedApp = {
    tenantId,
    clientId: options.clientId ?? SIMULATOR_DEFAULTS.clientId,
    clientSecret: options.clientSecret ?? SIMULATOR_DEFAULTS.clientSecret,
  };
  if (options.appCredential === 'certificate') {
    app.certificate = await createClientCertificate(`partner-center-app-${app.clientId}`);
  }
  const developer: SimulatedApp = {
    tenantId,
    clientId: options.developer?.clientId ?? SIMULATOR_DEFAULTS.developerClientId,
    clientSecret: options.developer?.clientSecret ?? SIMULATOR_DEFAULTS.developerClientSecret,
  };

  const entra = new EntraSimulator({
    tls,
    ...(now ? { now } : {}),
    ...(options.userGrants ? { userGrants: options.userGrants } : {}),
  });
  const keyVault = new KeyVaultSimulator({ tls, entra, tenantId, ...(now ? { now } : {}) });
  const partnerCenter = new PartnerCenterSimulator({ tls, entra, tenantId, ...(now ? { now } : {}) });
  const stop = async () => {
    await Promise.all([partnerCenter.stop(), keyVault.stop(), entra.stop()]);
  };
  try {
    await entra.start(options.ports?.entra ?? 0);
    await keyVault.start(options.ports?.keyVault ?? 0);
    await partnerCenter.start(options.ports?.partnerCenter ?? 0);
  } catch (error) {
    await stop();
    throw error;
  }

  entra.registerApplication({
    tenantId,
    clientId: app.clientId,
    secrets: [app.clientSecret],
    certificatePems: app.certificate ? [app.certificate.certPem] : [],
  });
  entra.registerApplication({ tenantId, clientId: developer.clientId, secrets: [developer.clientSecret] });
  keyVault.restrictAccessTo([developer.clientId]);
  if (app.certificate) {
    keyVault.setSecret(secretName, app.certificate.pem, { contentType: 'application/x-pem-file' });
  } else {
    keyVault.setSecret(secretName, app.clientSecret);
  }

  const appUser = options.appUser;
  if (appUser) {
    partnerCenter.requireUserImpersonation({ mfa: appUser.requireMfa ?? true });
    if (appUser.consented ?? true) {
      const token = entra.users.issueRefreshToken({ clientId: app.clientId, tenantId, user: appUser.user });
      keyVault.setSecret(SIMULATOR_DEFAULTS.refreshTokenSecretName, token, {
        contentType: REFRESH_TOKEN_CONTENT_TYPE,
        tags: { rotatedAt: new Date(now?.() ?? Date.now()).toISOString(), writtenBy: 'simulator consent' },
      });
    }
  }

  return {
    tls,
    entra,
    keyVault,
    partnerCenter,
    app,
    developer,
    env: {
      ...(appUser
        ? {
            PARTNER_CENTER_AUTH_MODE: 'app_user',
            PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: SIMULATOR_DEFAULTS.refreshTokenSecretName,
          }
        : {}),
      PARTNER_CENTER_BASE_URL: partnerCenter.url,
      PARTNER_CENTER_TENANT_ID: tenantId,
      PARTNER_CENTER_CLIENT_ID: app.clientId,
      KEY_VAULT_URL: keyVault.url,
      PARTNER_CENTER_SECRET_NAME: secretName,
      AZURE_AUTHORITY_HOST: entra.url,
      AZURE_TENANT_ID: tenantId,
      AZURE_CLIENT_ID: developer.clientId,
      AZURE_CLIENT_SECRET: developer.clientSecret,
    },
    stop,
  };
}
