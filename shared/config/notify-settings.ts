import { z } from 'zod';
import { type HostPattern, parseAllowedHosts, parseWebhookUrl } from '../notifications/webhook-url.js';
import { type ReadSetting, text } from './setting-schemas.js';

/** Completion notifications (README, "Completion webhooks"). */
export interface NotifySettings {
  /** From NOTIFY_ALLOWED_HOSTS; empty means per-tracking webhooks are off. */
  allowedHosts: HostPattern[];
  /** One more receiver of every completion (operators, Logic Apps). */
  webhookUrl?: string;
  /** Key Vault secret (`whsec_<base64>`) that signs webhooks. */
  signingSecretName: string;
  /** Local development only (NOTIFY_SIGNING_SECRET); refused when running in Azure. */
  localSigningSecret?: string;
  /** Storage Queue on the tracking storage account; its poison queue is `<name>-poison`. */
  queueName: string;
  maxAttempts: number;
  retryInitialMs: number;
  /**
   * Identity-based tracking storage only: the queue service, from `<connection>__queueServiceUri`
   * or `<connection>__accountName` (as the Functions queue trigger reads the same connection).
   */
  queueServiceUri?: string;
}

const whole = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const allowedHosts = text.transform((value, ctx) => {
  const parsed = parseAllowedHosts(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});
const operatorUrl = text.transform((value, ctx) => {
  const parsed = parseWebhookUrl(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.reason });
    return z.NEVER;
  }
  return parsed.url;
});
/** Standard Webhooks secrets: `whsec_` and base64 of 24 to 64 random bytes. */
const signingSecret = text.refine((value) => {
  const base64 = value.startsWith('whsec_') ? value.slice(6) : value;
  const bytes = Buffer.from(base64, 'base64');
  return /^[A-Za-z0-9+/]+={0,2}$/.test(base64) && bytes.length >= 24 && bytes.length <= 64;
}, 'must be whsec_ followed by the base64 of 24 to 64 random bytes');
/** Storage queue names; `-poison` is appended for the poison queue, so at most 56 characters. */
const queueName = text.regex(
  /^(?=.{3,56}$)[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$/,
  'must be 3-56 lower-case letters, digits and single hyphens, starting and ending with a letter or digit',
);

export function readNotifySettings(
  read: ReadSetting,
  problems: string[],
  runningInAzure: boolean,
  /** The tracking storage connection (settings.ts' StorageConnection). */
  storage: { kind: string; settingName: string } | undefined,
): NotifySettings {
  const localSigningSecret = read('NOTIFY_SIGNING_SECRET', signingSecret);
  if (localSigningSecret !== undefined && runningInAzure) {
    problems.push(
      'NOTIFY_SIGNING_SECRET is for local development only and is refused when running in Azure: put the secret in Key Vault (NOTIFY_SIGNING_SECRET_NAME)',
    );
  }
  return {
    allowedHosts: read('NOTIFY_ALLOWED_HOSTS', allowedHosts) ?? [],
    webhookUrl: read('NOTIFY_WEBHOOK_URL', operatorUrl),
    signingSecretName: read('NOTIFY_SIGNING_SECRET_NAME', text, 'notify-signing-secret') as string,
    localSigningSecret: runningInAzure ? undefined : localSigningSecret,
    queueName: read('NOTIFY_QUEUE_NAME', queueName, 'tracking-notifications') as string,
    maxAttempts: read('NOTIFY_MAX_ATTEMPTS', whole(1, 50), '8') as number,
    retryInitialMs: (read('NOTIFY_RETRY_INITIAL_SECONDS', whole(1, 86_400), '30') as number) * 1000,
    queueServiceUri: storage?.kind === 'identity' ? queueServiceOf(read, storage.settingName) : undefined,
  };
}

function queueServiceOf(read: ReadSetting, connection: string): string | undefined {
  const account = read(`${connection}__accountName`, text);
  return (
    read(`${connection}__queueServiceUri`, text) ??
    (account ? `https://${account}.queue.core.windows.net` : undefined)
  );
}

/** Whether any completion is to be announced at all. */
export function notificationsEnabled(settings: NotifySettings): boolean {
  return settings.allowedHosts.length > 0 || settings.webhookUrl !== undefined;
}
