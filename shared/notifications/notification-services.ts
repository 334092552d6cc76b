import type { TokenCredential } from '@azure/core-auth';
import type { SecretClient } from '@azure/keyvault-secrets';
import { type Settings, SettingsError } from '../config/settings.js';
import { QueueingNotifier } from './completion-notifier.js';
import { type DeliveryObserver, type DeliveryRecords, NotificationDelivery } from './delivery.js';
import { DeliveryQueue } from './delivery-queue.js';
import { createQueueService } from './queue-service.js';
import { KeyVaultSigningSecret, type SigningSecretSource, StaticSigningSecret } from './signing.js';
import { WebhookSender } from './webhook-sender.js';

/** What the notifications take from the rest of the app, each read only when first needed. */
export interface NotificationDependencies {
  settings: () => Pick<Settings, 'notify' | 'storage' | 'credential'>;
  /** The managed identity of identity-based tracking storage (unused with a connection string). */
  storageCredential: () => TokenCredential;
  secretClient: () => SecretClient;
  records: () => DeliveryRecords;
  observer: () => DeliveryObserver;
}

/**
 * The completion webhooks' part of the composition root (shared/composition.ts): the queue, the
 * notifier the terminal write calls, and the queue trigger's delivery. Built lazily, once; a
 * failed build (bad settings) is not kept, so a fix needs no restart.
 */
export class NotificationServices {
  #queue?: DeliveryQueue;
  #notifier?: QueueingNotifier;
  #delivery?: NotificationDelivery;
  #secrets?: SigningSecretSource;

  constructor(private readonly deps: NotificationDependencies) {}

  /** NOTIFY_QUEUE_NAME and its poison queue, on the tracking storage account. */
  get queue(): DeliveryQueue {
    this.#queue ??= this.#buildQueue();
    return this.#queue;
  }

  /** Records one completion event per terminal transition and queues its deliveries. */
  get notifier(): QueueingNotifier {
    this.#notifier ??= new QueueingNotifier({
      queue: this.queue,
      operatorReceiver: this.deps.settings().notify.webhookUrl !== undefined,
    });
    return this.#notifier;
  }

  /** The `deliverNotification` queue trigger's work: one signed POST per message. */
  get delivery(): NotificationDelivery {
    this.#delivery ??= new NotificationDelivery({
      records: this.deps.records(),
      queue: this.queue,
      sender: new WebhookSender(),
      secrets: this.secrets,
      settings: this.deps.settings().notify,
      observer: this.deps.observer(),
    });
    return this.#delivery;
  }

  get secrets(): SigningSecretSource {
    this.#secrets ??= this.#buildSecrets();
    return this.#secrets;
  }

  #buildQueue(): DeliveryQueue {
    const { storage, notify } = this.deps.settings();
    if (!storage.connection) {
      throw new SettingsError([
        'TRACKING_STORAGE (or AzureWebJobsStorage) is not set: notifications are queued on the tracking storage account',
      ]);
    }
    const credential = storage.connection.kind === 'identity' ? this.deps.storageCredential() : undefined;
    const service = createQueueService(storage.connection, {
      queueServiceUri: notify.queueServiceUri,
      credential,
    });
    return new DeliveryQueue(
      service.getQueueClient(notify.queueName),
      service.getQueueClient(`${notify.queueName}-poison`),
    );
  }

  #buildSecrets(): SigningSecretSource {
    const { notify, credential } = this.deps.settings();
    if (notify.localSigningSecret) return new StaticSigningSecret(notify.localSigningSecret);
    if (!credential.keyVaultUrl) {
      throw new SettingsError([
        'KEY_VAULT_URL is not set: webhooks are signed with the Key Vault secret NOTIFY_SIGNING_SECRET_NAME (or, for local development only, NOTIFY_SIGNING_SECRET)',
      ]);
    }
    return new KeyVaultSigningSecret(
      this.deps.secretClient(),
      notify.signingSecretName,
      credential.cacheTtlMs,
    );
  }
}
