import type { TokenCredential } from '@azure/core-auth';
import { notificationsEnabled } from '../config/notify-settings.js';
import type { Settings } from '../config/settings.js';
import { type AppCredential, CredentialError } from '../credentials/app-credential.js';
import type { AppUserCredential } from '../credentials/app-user-credential.js';
import type { DeliveryQueue } from '../notifications/delivery-queue.js';
import type { StorageClients } from '../storage/clients.js';
import { DeepHealthCheck, probeTrackingStorage, refreshTokenHealth } from './deep-health.js';

/** The parts of the composition root (shared/composition.ts) the deep health probe looks at. */
export interface DeepHealthSources {
  readonly settings: Pick<Settings, 'storage' | 'credential' | 'partnerCenter' | 'notify'>;
  readonly storageClients: StorageClients;
  readonly appCredential: Pick<AppCredential, 'current'>;
  readonly appUserCredential: Pick<AppUserCredential, 'status'>;
  readonly partnerCenterCredential: TokenCredential;
  readonly notifications: { readonly queue: Pick<DeliveryQueue, 'name' | 'poisonLength'> };
}

/**
 * `GET /api/health/deep`: storage, Key Vault and token acquisition, each bounded in time. Every
 * check reads settings and builds clients (through `app`'s lazy getters) only when it runs, so a
 * bad setting shows as an unhealthy component instead of failing the probe.
 */
export function appDeepHealthCheck(app: DeepHealthSources): DeepHealthCheck {
  return new DeepHealthCheck(
    {
      storage: async (abortSignal) => {
        const { storage } = app.settings;
        if (!storage.connection) return 'not_configured';
        await probeTrackingStorage(app.storageClients, storage.tablePrefix, abortSignal);
        return 'healthy';
      },
      keyVault: async () => {
        if (!app.settings.credential.keyVaultUrl) return 'not_configured';
        // Re-read when older than this: a probe checks the vault, not only the cache.
        await app.appCredential.current({ maxAgeMs: 30_000 });
        return 'healthy';
      },
      partnerCenterToken: async () => {
        const token = await app.partnerCenterCredential.getToken(app.settings.partnerCenter.scope);
        if (!token) throw new CredentialError('Microsoft Entra ID answered without a token', 'token');
        return 'healthy';
      },
      refreshToken: async () => {
        if (app.settings.credential.authMode !== 'app_user') return 'not_configured';
        return refreshTokenHealth(await app.appUserCredential.status(), new Date());
      },
      notifications: async (abortSignal) => {
        if (!notificationsEnabled(app.settings.notify) || !app.settings.storage.connection) {
          return 'not_configured';
        }
        const { queue } = app.notifications;
        const poisoned = await queue.poisonLength(abortSignal);
        return { status: 'healthy', detail: `${poisoned} given-up delivery(ies) in ${queue.name}-poison` };
      },
    },
    { authMode: () => app.settings.credential.authMode },
  );
}
