import type { SecretClient } from '@azure/keyvault-secrets';
import { Webhook } from 'standardwebhooks';

/** Where the Standard Webhooks signing secret (`whsec_<base64>`) comes from. */
export interface SigningSecretSource {
  secret(): Promise<string>;
}

/** Local development only (NOTIFY_SIGNING_SECRET). */
export class StaticSigningSecret implements SigningSecretSource {
  constructor(private readonly value: string) {}
  secret(): Promise<string> {
    return Promise.resolve(this.value);
  }
}

/**
 * The secret from Key Vault, read once and kept for `ttlMs` (concurrent cold reads share one
 * request), so a rotated secret is picked up without a restart.
 */
export class KeyVaultSigningSecret implements SigningSecretSource {
  private cached?: { value: string; readAtMs: number };
  private reading?: Promise<string>;

  constructor(
    private readonly client: SecretClient,
    private readonly name: string,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  secret(): Promise<string> {
    if (this.cached && this.clock() - this.cached.readAtMs < this.ttlMs)
      return Promise.resolve(this.cached.value);
    this.reading ??= this.client
      .getSecret(this.name)
      .then((secret) => {
        if (!secret.value) throw new Error(`Key Vault secret '${this.name}' has no value`);
        this.cached = { value: secret.value, readAtMs: this.clock() };
        return secret.value;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}

/** The Standard Webhooks headers of one attempt: `webhook-id` is the event id on every attempt. */
export async function signedHeaders(
  source: SigningSecretSource,
  eventId: string,
  body: string,
  now: Date,
): Promise<Record<string, string>> {
  const signature = new Webhook(await source.secret()).sign(eventId, now, body);
  return {
    'content-type': 'application/cloudevents+json; charset=utf-8',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signature,
  };
}
