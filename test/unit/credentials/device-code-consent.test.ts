import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { CredentialMaterial } from '../../../shared/credentials/app-credential.js';
import {
  ConsentFailedError,
  consentWithDeviceCode,
  type DeviceCodeConsentOptions,
} from '../../../shared/credentials/device-code-consent.js';
import type {
  RefreshTokenStore,
  RefreshTokenWriter,
} from '../../../shared/credentials/refresh-token-store.js';
import {
  type DeviceAuthorization,
  type EntraTokenEndpoint,
  type TokenAnswer,
  TokenEndpointError,
} from '../../../shared/credentials/token-endpoint.js';

// The device-code sign-in's polling (RFC 8628 §3.4–3.5) with a scripted endpoint and a clock that
// the recorded waits advance: how often it polls, when it stops, what it stores and what it says.
// (The end-to-end consent, in child processes against the simulators: test/e2e/app-user-processes.test.ts.)

const timers = vi.hoisted(() => ({ delays: [] as number[], onDelay: (_ms: number) => {} }));
vi.mock('node:timers/promises', () => ({
  setTimeout: async (ms: number, _value: unknown, options?: { signal?: AbortSignal }) => {
    options?.signal?.throwIfAborted();
    timers.delays.push(ms);
    timers.onDelay(ms);
  },
}));

const SCOPE = 'https://api.partnercenter.microsoft.com/user_impersonation offline_access';
const MATERIAL: CredentialMaterial = { value: 'app-secret' };
const T0 = Date.parse('2026-12-01T12:00:00Z');

let now: number;
let polls: number;
let writes: Array<{ value: string; rotatedAt: Date; writer: RefreshTokenWriter }>;
let prompts: DeviceAuthorization[];
let authorization: DeviceAuthorization;
/** Entra's answer to each poll, by its number (1-based). */
let answer: (poll: number) => Partial<TokenAnswer> | Error;

beforeEach(() => {
  now = T0;
  timers.delays.length = 0;
  timers.onDelay = (ms) => {
    now += ms;
  };
  polls = 0;
  writes = [];
  prompts = [];
  authorization = {
    deviceCode: 'device-code',
    userCode: 'ABCD-EFGH',
    verificationUri: 'https://microsoft.com/devicelogin',
    expiresInSeconds: 900,
    intervalSeconds: 5,
  };
  answer = () => ({ refreshToken: 'rt-consented' });
});

const refreshTokens: RefreshTokenStore = {
  description: "Key Vault secret 'rt' in https://vault.test",
  read: async () => undefined,
  write: async (value, options) => {
    writes.push({ value, ...options });
    return { value, version: 'v9', rotatedAt: options.rotatedAt };
  },
};

const endpoint = {
  async startDeviceAuthorization(scope: string) {
    expect(scope).toBe(SCOPE);
    return authorization;
  },
  async redeemDeviceCode(deviceCode: string, client: CredentialMaterial) {
    expect(deviceCode).toBe('device-code');
    expect(client).toBe(MATERIAL);
    polls += 1;
    const next = answer(polls);
    if (next instanceof Error) throw next;
    return { accessToken: 'at', expiresInSeconds: 3600, ...next };
  },
};

function consent(options: Partial<DeviceCodeConsentOptions> = {}) {
  return consentWithDeviceCode({
    endpoint: endpoint as unknown as EntraTokenEndpoint,
    scope: SCOPE,
    appMaterial: { current: async () => ({ material: MATERIAL }) },
    refreshTokens,
    prompt: (shown) => prompts.push(shown),
    now: () => now,
    ...options,
  });
}

const oauth = (error: string, description = 'AADSTS70016 text') =>
  new TokenEndpointError(error, 400, 70016, description);

async function consentFailure(options: Partial<DeviceCodeConsentOptions> = {}): Promise<string> {
  const error = await consent(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConsentFailedError);
  expect((error as Error).name).toBe('ConsentFailedError');
  return (error as Error).message;
}

describe('consentWithDeviceCode', () => {
  it('shows the code, polls after the interval and stores the refresh token as a consent', async () => {
    const stored = await consent();
    expect(prompts).toEqual([authorization]);
    expect(timers.delays).toEqual([5000]);
    expect(writes).toEqual([{ value: 'rt-consented', rotatedAt: new Date(T0 + 5000), writer: 'consent' }]);
    expect(stored).toEqual({ value: 'rt-consented', version: 'v9', rotatedAt: new Date(T0 + 5000) });
  });

  it('keeps polling at the interval while the sign-in is pending', async () => {
    answer = (poll) => (poll < 3 ? oauth('authorization_pending') : { refreshToken: 'rt' });
    await consent();
    expect(polls).toBe(3);
    expect(timers.delays).toEqual([5000, 5000, 5000]);
  });

  it('slows down by 5 s each time Entra asks', async () => {
    answer = (poll) => (poll < 3 ? oauth('slow_down') : { refreshToken: 'rt' });
    await consent();
    expect(timers.delays).toEqual([5000, 10_000, 15_000]);
  });

  it('polls without waiting when the interval is 0', async () => {
    authorization.intervalSeconds = 0;
    answer = (poll) => (poll < 2 ? oauth('authorization_pending') : { refreshToken: 'rt' });
    await consent();
    expect(polls).toBe(2);
    expect(timers.delays).toEqual([]);
  });

  it('gives up when the code expires: the last poll is the one before the deadline', async () => {
    authorization.expiresInSeconds = 15;
    answer = () => oauth('authorization_pending');
    expect(await consentFailure()).toBe(
      'The code expired before the sign-in finished: run the command again.',
    );
    // Polled at +5 s and +10 s; at +15 s the code has expired.
    expect(polls).toBe(2);
    expect(writes).toEqual([]);
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const error = await consent({
      abortSignal: controller.signal,
      prompt: () => controller.abort(new Error('cancelled by the operator')),
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('cancelled by the operator');
    expect(polls).toBe(0);
  });

  it('refuses an answer without a refresh token: offline_access was not granted', async () => {
    answer = () => ({ refreshToken: undefined });
    expect(await consentFailure()).toBe(
      "Microsoft Entra ID answered without a refresh token: the offline_access scope was not granted. Check the app registration's API permissions.",
    );
    expect(writes).toEqual([]);
  });

  it.each([
    ['authorization_declined', 'The sign-in was declined: nothing was stored.'],
    ['access_denied', 'The sign-in was declined: nothing was stored.'],
    ['expired_token', 'The code expired before the sign-in finished: run the command again.'],
    [
      'invalid_client',
      "Microsoft Entra ID refused the app's own credential (invalid_client (AADSTS70016): the text). Check PARTNER_CENTER_CLIENT_ID and the secret or certificate in PARTNER_CENTER_SECRET_NAME.",
    ],
    [
      'unauthorized_client',
      "Microsoft Entra ID refused the app's own credential (unauthorized_client (AADSTS70016): the text). Check PARTNER_CENTER_CLIENT_ID and the secret or certificate in PARTNER_CENTER_SECRET_NAME.",
    ],
    ['invalid_scope', 'Microsoft Entra ID refused the sign-in: invalid_scope (AADSTS70016): the text'],
  ])('%s: says what happened and what to do', async (code, message) => {
    answer = () => oauth(code, 'the text');
    expect(await consentFailure()).toBe(message);
    expect(polls).toBe(1);
    expect(writes).toEqual([]);
  });

  it('passes any other failure through unchanged', async () => {
    const vaultFailure = new Error('the vault refused the write');
    const error = await consent({
      refreshTokens: {
        ...refreshTokens,
        write: async () => {
          throw vaultFailure;
        },
      },
    }).catch((e: unknown) => e);
    expect(error).toBe(vaultFailure);
  });
});
