import { describe, expect, it } from 'vitest';
import { notifyQueueBinding } from '../../../shared/config/notify-binding.js';
import { notificationsEnabled } from '../../../shared/config/notify-settings.js';
import { loadSettings, SettingsError } from '../../../shared/config/settings.js';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

function problems(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  throw new Error('expected loadSettings to fail');
}

describe('notification settings', () => {
  it('default to webhooks off, the documented queue, 8 attempts from 30 s', () => {
    const { notify } = loadSettings({});
    expect(notify).toEqual({
      allowedHosts: [],
      signingSecretName: 'notify-signing-secret',
      queueName: 'tracking-notifications',
      maxAttempts: 8,
      retryInitialMs: 30_000,
    });
    expect(notificationsEnabled(notify)).toBe(false);
  });

  it('parse the allow-list as the URL parser reads hosts', () => {
    const { notify } = loadSettings({
      NOTIFY_ALLOWED_HOSTS: 'Hooks.Example.com., *.logic.azure.com, [::1], 10.0.0.1',
    });
    expect(notify.allowedHosts).toEqual([
      { exact: 'hooks.example.com' },
      { suffix: 'logic.azure.com' },
      { exact: '::1' },
      { exact: '10.0.0.1' },
    ]);
    expect(notificationsEnabled(notify)).toBe(true);
  });

  it('name each bad setting and what is wrong, without echoing a webhook URL or a secret', () => {
    const found = problems({
      NOTIFY_ALLOWED_HOSTS: 'https://x.example.com:443/path',
      NOTIFY_WEBHOOK_URL: 'https://user:pa55word@ops.example.com/hook?sig=abc',
      NOTIFY_SIGNING_SECRET: 'short',
      NOTIFY_QUEUE_NAME: 'Bad_Queue',
      NOTIFY_MAX_ATTEMPTS: '0',
      NOTIFY_RETRY_INITIAL_SECONDS: 'soon',
    });
    expect(found).toEqual([
      expect.stringMatching(/^NOTIFY_SIGNING_SECRET must be whsec_/),
      expect.stringMatching(
        /^NOTIFY_ALLOWED_HOSTS entry 'https:\/\/x.example.com:443\/path' must be a host name/,
      ),
      expect.stringMatching(/^NOTIFY_WEBHOOK_URL must not carry credentials/),
      expect.stringMatching(/^NOTIFY_QUEUE_NAME must be 3-56 lower-case letters/),
      expect.stringMatching(/^NOTIFY_MAX_ATTEMPTS must be at least 1/),
      expect.stringMatching(/^NOTIFY_RETRY_INITIAL_SECONDS must be a number/),
    ]);
    expect(found.join(' ')).not.toContain('pa55word');
    expect(found.join(' ')).not.toContain('short');
  });

  it('refuse the local signing secret when running in Azure', () => {
    expect(problems({ NOTIFY_SIGNING_SECRET: SECRET, WEBSITE_INSTANCE_ID: 'abc' })).toEqual([
      expect.stringContaining('NOTIFY_SIGNING_SECRET is for local development only'),
    ]);
    expect(loadSettings({ NOTIFY_SIGNING_SECRET: SECRET }).notify.localSigningSecret).toBe(SECRET);
  });

  it('find the queue service of an identity-based tracking storage connection', () => {
    const { notify } = loadSettings({ TRACKING_STORAGE__accountName: 'acct01' });
    expect(notify.queueServiceUri).toBe('https://acct01.queue.core.windows.net');
  });
});

describe('the deliverNotification binding', () => {
  it('names only settings that exist, as the Functions host knows no app defaults', () => {
    expect(notifyQueueBinding({})).toEqual({
      queueName: 'tracking-notifications',
      connection: 'AzureWebJobsStorage',
    });
    expect(notifyQueueBinding({ NOTIFY_QUEUE_NAME: 'q', TRACKING_STORAGE: 'x' })).toEqual({
      queueName: '%NOTIFY_QUEUE_NAME%',
      connection: 'TRACKING_STORAGE',
    });
    expect(notifyQueueBinding({ TRACKING_STORAGE__accountName: 'acct01' }).connection).toBe(
      'TRACKING_STORAGE',
    );
  });
});
