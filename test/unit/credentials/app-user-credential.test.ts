import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialError, type CredentialMaterial } from '../../../shared/credentials/app-credential.js';
import {
  AppUserCredential,
  type AppUserCredentialEvent,
  type AppUserCredentialOptions,
  userImpersonationScopes,
} from '../../../shared/credentials/app-user-credential.js';
import type {
  RefreshTokenStore,
  RefreshTokenWriter,
  StoredRefreshToken,
} from '../../../shared/credentials/refresh-token-store.js';
import {
  type EntraTokenEndpoint,
  type TokenAnswer,
  TokenEndpointError,
} from '../../../shared/credentials/token-endpoint.js';
import { rejectionOf } from '../../support/rejection.js';

// The App+User credential's decisions with an in-memory vault, a scripted token endpoint and a
// fixed clock: when it exchanges, what it writes back, how it waits (the delays are recorded, and
// advance the clock, instead of being slept) and what it tells a person.

const timers = vi.hoisted(() => ({ delays: [] as number[], onDelay: (_ms: number) => {} }));
vi.mock('node:timers/promises', () => ({
  setTimeout: async (ms: number) => {
    timers.delays.push(ms);
    timers.onDelay(ms);
  },
}));

const DESCRIPTION = "Key Vault secret 'partner-center-refresh-token' in https://vault.test";
const SCOPE = 'https://api.partnercenter.microsoft.com/user_impersonation offline_access';
const MATERIAL: CredentialMaterial = { value: 'app-secret' };
const T0 = Date.parse('2026-12-01T12:00:00Z');

/** The refresh-token secret: its versions, newest last; reads and writes counted. */
class MemoryVault implements RefreshTokenStore {
  readonly description = DESCRIPTION;
  readonly versions: StoredRefreshToken[] = [];
  readonly writes: Array<{ value: string; rotatedAt: Date; writer: RefreshTokenWriter }> = [];
  reads = 0;
  /** Runs before each read answers (another instance rotating, an admin consenting). */
  beforeRead: (read: number) => void = () => {};
  /** Makes a write fail (the vault refusing it). */
  failWrite: (value: string) => Error | undefined = () => undefined;

  constructor(...values: string[]) {
    for (const value of values) this.put(value);
  }

  put(value: string): StoredRefreshToken {
    const token = { value, version: `v${this.versions.length + 1}`, rotatedAt: new Date(T0 - 86_400_000) };
    this.versions.push(token);
    return token;
  }

  get latest(): string | undefined {
    return this.versions.at(-1)?.value;
  }

  async read(): Promise<StoredRefreshToken | undefined> {
    this.reads += 1;
    this.beforeRead(this.reads);
    const latest = this.versions.at(-1);
    return latest && { ...latest };
  }

  async write(value: string, options: { rotatedAt: Date; writer: RefreshTokenWriter }) {
    this.writes.push({ value, ...options });
    const failure = this.failWrite(value);
    if (failure) throw failure;
    const stored = this.put(value);
    stored.rotatedAt = options.rotatedAt;
    return { ...stored };
  }
}

/** Entra's token endpoint: answers each refresh token redeemed through `answer`. */
class ScriptedEndpoint {
  readonly redeemed: string[] = [];
  answer: (refreshToken: string, call: number) => Partial<TokenAnswer> | Error = (rt) => ({
    refreshToken: `${rt}+`,
  });

  async redeemRefreshToken(refreshToken: string, scope: string, client: CredentialMaterial) {
    expect(scope).toBe(SCOPE);
    expect(client).toBe(MATERIAL);
    this.redeemed.push(refreshToken);
    const answer = this.answer(refreshToken, this.redeemed.length);
    if (answer instanceof Error) throw answer;
    return { accessToken: `at-for-${refreshToken}`, expiresInSeconds: 3600, ...answer };
  }
}

const invalidGrant = () =>
  new TokenEndpointError(
    'invalid_grant',
    400,
    70000,
    'The provided grant has expired due to it being revoked.',
  );

let now: number;
let vault: MemoryVault;
let endpoint: ScriptedEndpoint;
let events: AppUserCredentialEvent[];

beforeEach(() => {
  now = T0;
  timers.delays.length = 0;
  timers.onDelay = (ms) => {
    now += ms;
  };
  vault = new MemoryVault('rt-1');
  endpoint = new ScriptedEndpoint();
  events = [];
});

function credential(options: Partial<AppUserCredentialOptions> = {}): AppUserCredential {
  return new AppUserCredential({
    appMaterial: { current: async () => ({ material: MATERIAL }) },
    refreshTokens: vault,
    endpoint: endpoint as unknown as EntraTokenEndpoint,
    scope: SCOPE,
    onEvent: (event) => events.push(event),
    now: () => now,
    ...options,
  });
}

function consentMessage(reason: string): string {
  return `The App+User credential cannot be used: ${reason}. An admin of the partner tenant must sign in again, with MFA, and store a new refresh token in ${DESCRIPTION}: run 'npm run consent' (README, "App+User credentials").`;
}

const failure = (promise: Promise<unknown>) => rejectionOf(promise, CredentialError);

describe('AppUserCredential: the access token', () => {
  it('is kept until the expiry margin (5 minutes by default), then exchanged again', async () => {
    const cred = credential();
    const first = await cred.getToken('ignored');
    expect(first).toEqual({
      token: 'at-for-rt-1',
      expiresOnTimestamp: T0 + 3_600_000,
      refreshAfterTimestamp: T0 + 1_800_000,
      tokenType: 'Bearer',
    });
    now = T0 + 3_600_000 - 300_000 - 1;
    expect(await cred.getToken('ignored')).toBe(first);
    expect(endpoint.redeemed).toEqual(['rt-1']);
    now = T0 + 3_600_000 - 300_000;
    expect((await cred.getToken('ignored')).token).toBe('at-for-rt-1+');
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-1+']);
  });

  it('honours another expiry margin', async () => {
    const cred = credential({ expiryMarginMs: 60_000 });
    await cred.getToken('ignored');
    now = T0 + 3_600_000 - 60_001;
    await cred.getToken('ignored');
    expect(endpoint.redeemed).toHaveLength(1);
    now = T0 + 3_600_000 - 60_000;
    await cred.getToken('ignored');
    expect(endpoint.redeemed).toHaveLength(2);
  });

  it('shares one exchange, one vault read and one write among concurrent cold callers', async () => {
    const cred = credential();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => cred.getToken('ignored')));
    expect(new Set(tokens)).toEqual(new Set([tokens[0]]));
    expect(endpoint.redeemed).toEqual(['rt-1']);
    expect(vault.reads).toBe(1);
    expect(vault.writes).toHaveLength(1);
  });

  it('invalidate() makes the next call exchange the held token, without reading the vault', async () => {
    const cred = credential();
    await cred.getToken('ignored');
    cred.invalidate();
    await cred.getToken('ignored');
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-1+']);
    expect(vault.reads).toBe(1);
  });
});

describe('AppUserCredential: rotation', () => {
  it('writes a rotated token as a rotation, tagged with the exchange time, before relying on it', async () => {
    await credential().getToken('ignored');
    expect(vault.writes).toEqual([{ value: 'rt-1+', rotatedAt: new Date(T0), writer: 'rotation' }]);
    expect(events).toEqual([{ kind: 'rotation_written', version: 'v2', attempts: 1 }]);
  });

  it('writes nothing when Entra hands back the same refresh token, or none', async () => {
    endpoint.answer = (rt, call) => (call === 1 ? { refreshToken: rt } : { refreshToken: undefined });
    const cred = credential();
    await cred.getToken('ignored');
    cred.invalidate();
    await cred.getToken('ignored');
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-1']);
    expect(vault.writes).toEqual([]);
    expect(events).toEqual([]);
  });

  it('retries a refused write after 500 ms, then 1 s, and reports the failure after 3 attempts', async () => {
    vault.failWrite = () => new Error(`Key Vault said no: ${'x'.repeat(400)}`);
    const cred = credential();
    expect((await cred.getToken('ignored')).token).toBe('at-for-rt-1');
    expect(vault.writes.map((w) => w.value)).toEqual(['rt-1+', 'rt-1+', 'rt-1+']);
    expect(timers.delays).toEqual([500, 1000]);
    expect(events).toEqual([
      {
        kind: 'rotation_write_failed',
        attempts: 3,
        reason: `Key Vault said no: ${'x'.repeat(400)}`.slice(0, 300),
      },
    ]);
    expect(await cred.status()).toEqual({ rotatedAt: new Date(T0), version: undefined, writePending: true });
  });

  it('backs off from writeRetryDelayMs, doubling, for writeAttempts attempts', async () => {
    vault.failWrite = () => new Error('no');
    await credential({ writeAttempts: 4, writeRetryDelayMs: 10 }).getToken('ignored');
    expect(vault.writes).toHaveLength(4);
    expect(timers.delays).toEqual([10, 20, 40]);
    expect(events).toEqual([{ kind: 'rotation_write_failed', attempts: 4, reason: 'no' }]);
  });

  it('reports the write that succeeded on a retry, with its attempt', async () => {
    vault.failWrite = () => (vault.writes.length < 3 ? new Error('busy') : undefined);
    const cred = credential({ writeRetryDelayMs: 1 });
    await cred.getToken('ignored');
    expect(events).toEqual([{ kind: 'rotation_written', version: 'v2', attempts: 3 }]);
    expect(await cred.status()).toEqual({ rotatedAt: new Date(T0), version: 'v2', writePending: false });
  });

  it('writes the pending token first on the next exchange, then the next rotation', async () => {
    let refuse = true;
    vault.failWrite = () => (refuse ? new Error('no') : undefined);
    const cred = credential({ writeAttempts: 1 });
    await cred.getToken('ignored');
    expect((await cred.status()).writePending).toBe(true);
    refuse = false;
    now += 60_000;
    cred.invalidate();
    await cred.getToken('ignored');
    expect(vault.writes.map((w) => [w.value, w.rotatedAt.getTime()])).toEqual([
      ['rt-1+', T0],
      ['rt-1+', T0],
      ['rt-1++', T0 + 60_000],
    ]);
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-1+']);
    expect(events.map((e) => e.kind)).toEqual([
      'rotation_write_failed',
      'rotation_written',
      'rotation_written',
    ]);
    expect(await cred.status()).toMatchObject({ version: 'v3', writePending: false });
  });
  it('a pending token superseded by a newer rotation that was written is never written over it', async () => {
    // The vault refuses the first two writes: the rotation, then its retry at the next exchange.
    vault.failWrite = () => (vault.writes.length <= 2 ? new Error('busy') : undefined);
    const cred = credential({ writeAttempts: 1 });
    await cred.getToken('ignored');
    cred.invalidate();
    await cred.getToken('ignored');
    expect(vault.latest).toBe('rt-1++');
    expect((await cred.status()).writePending).toBe(false);
    cred.invalidate();
    await cred.getToken('ignored');
    expect(vault.writes.map((w) => w.value)).toEqual(['rt-1+', 'rt-1+', 'rt-1++', 'rt-1+++']);
    expect(vault.latest).toBe('rt-1+++');
  });

  it('a pending token is dropped when another token from the vault replaces it', async () => {
    // rt-1+ is not written; Partner Center then refuses this consent, and an admin consents again.
    vault.failWrite = (value) => (value === 'rt-1+' ? new Error('busy') : undefined);
    const cred = credential({ writeAttempts: 1 });
    await cred.getToken('ignored');
    cred.consentRefused('no MFA');
    vault.put('rt-consented');
    now += 10_000;
    await cred.getToken('ignored');
    expect(vault.writes.map((w) => w.value)).toEqual(['rt-1+', 'rt-consented+']);
    expect(vault.latest).toBe('rt-consented+');
    expect((await cred.status()).writePending).toBe(false);
  });

  it('a pending token is dropped when a newer one from another instance replaces it after invalid_grant', async () => {
    vault.failWrite = (value) => (value === 'rt-1+' ? new Error('busy') : undefined);
    const cred = credential({ writeAttempts: 1 });
    await cred.getToken('ignored');
    endpoint.answer = (rt) => (rt === 'rt-1+' ? invalidGrant() : { refreshToken: `${rt}+` });
    vault.put('rt-other');
    cred.invalidate();
    await cred.getToken('ignored');
    // The pending rt-1+ is tried once more at the start of the exchange, then superseded.
    expect(vault.writes.map((w) => w.value)).toEqual(['rt-1+', 'rt-1+', 'rt-other+']);
    cred.invalidate();
    await cred.getToken('ignored');
    expect(vault.writes.map((w) => w.value)).toEqual(['rt-1+', 'rt-1+', 'rt-other+', 'rt-other++']);
    expect(vault.latest).toBe('rt-other++');
  });
});

describe('AppUserCredential: status()', () => {
  it('reads the vault when no token is held yet, and answers the held one afterwards', async () => {
    const cred = credential();
    expect(await cred.status()).toEqual({
      rotatedAt: new Date(T0 - 86_400_000),
      version: 'v1',
      writePending: false,
    });
    expect(vault.reads).toBe(1);
    await cred.getToken('ignored');
    vault.put('rt-other');
    expect(await cred.status()).toEqual({ rotatedAt: new Date(T0), version: 'v2', writePending: false });
    expect(vault.reads).toBe(2);
  });

  it('says that consent is required when the vault holds no refresh token', async () => {
    vault.versions.length = 0;
    const error = await failure(credential().status());
    expect(error.stage).toBe('consent');
    expect(error.message).toBe(consentMessage(`there is no refresh token in ${DESCRIPTION}`));
  });
});

describe('AppUserCredential: consent required', () => {
  it('no refresh token: consent required, answered at once until consentRecheckMs has passed', async () => {
    vault.versions.length = 0;
    const cred = credential();
    const first = await failure(cred.getToken('ignored'));
    expect(first.stage).toBe('consent');
    expect(first.message).toBe(consentMessage(`there is no refresh token in ${DESCRIPTION}`));
    expect(events).toEqual([
      { kind: 'consent_required', reason: `there is no refresh token in ${DESCRIPTION}` },
    ]);

    now = T0 + 9_999;
    expect(await failure(cred.getToken('ignored'))).toBe(first);
    expect(vault.reads).toBe(1);
    now = T0 + 10_000;
    expect(await failure(cred.getToken('ignored'))).toBe(first);
    expect(vault.reads).toBe(2);
    // The recheck restarts the wait.
    now = T0 + 19_999;
    await failure(cred.getToken('ignored'));
    expect(vault.reads).toBe(2);

    vault.put('rt-consented');
    now = T0 + 20_000;
    expect((await cred.getToken('ignored')).token).toBe('at-for-rt-consented');
    expect(vault.reads).toBe(3);
    expect(endpoint.redeemed).toEqual(['rt-consented']);
  });

  it('honours another consentRecheckMs', async () => {
    vault.versions.length = 0;
    const cred = credential({ consentRecheckMs: 1_000 });
    await failure(cred.getToken('ignored'));
    vault.put('rt-consented');
    now = T0 + 999;
    await failure(cred.getToken('ignored'));
    now = T0 + 1_000;
    await expect(cred.getToken('ignored')).resolves.toHaveProperty('token', 'at-for-rt-consented');
  });

  it('consentRefused(): callers get consent-required until the vault holds another token', async () => {
    const cred = credential();
    await cred.getToken('ignored');
    cred.consentRefused('Partner Center requires MFA for App+User tokens');
    const reason = 'Partner Center requires MFA for App+User tokens';
    const error = await failure(cred.getToken('ignored'));
    expect(error.message).toBe(consentMessage(reason));
    expect(events.at(-1)).toEqual({ kind: 'consent_required', reason });
    expect(endpoint.redeemed).toEqual(['rt-1']);

    // The vault still holds the refused token (the held one, written back): still refused.
    now = T0 + 10_000;
    expect(await failure(cred.getToken('ignored'))).toBe(error);
    expect(vault.reads).toBe(1 + 1);

    vault.put('rt-consented');
    now = T0 + 20_000;
    await expect(cred.getToken('ignored')).resolves.toHaveProperty('token', 'at-for-rt-consented');
  });

  it.each(['invalid_grant', 'interaction_required', 'consent_required'])(
    '%s with nothing newer in the vault: consent required after one grace wait',
    async (code) => {
      endpoint.answer = () => new TokenEndpointError(code, 400, 50076, 'Due to a configuration change');
      const cred = credential();
      const error = await failure(cred.getToken('ignored'));
      expect(error.stage).toBe('consent');
      expect(error.message).toBe(
        consentMessage(
          `Microsoft Entra ID refused the refresh token (${code} (AADSTS50076): Due to a configuration change)`,
        ),
      );
      expect(timers.delays).toEqual([1500]);
      // The held token, the one read before the grace, the one after.
      expect(vault.reads).toBe(3);
      expect(endpoint.redeemed).toEqual(['rt-1']);

      // Every caller now gets it at once, without asking Entra again.
      expect(await failure(cred.getToken('ignored'))).toBe(error);
      expect(endpoint.redeemed).toEqual(['rt-1']);
    },
  );

  it('invalid_grant with a newer token in the vault: uses it at once, without the grace wait', async () => {
    endpoint.answer = (rt) => (rt === 'rt-1' ? invalidGrant() : { refreshToken: undefined });
    const cred = credential();
    vault.beforeRead = (read) => {
      if (read === 2) vault.put('rt-2');
    };
    expect((await cred.getToken('ignored')).token).toBe('at-for-rt-2');
    expect(timers.delays).toEqual([]);
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-2']);
    // The newer token is the one held from now on.
    cred.invalidate();
    await cred.getToken('ignored');
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-2', 'rt-2']);
    expect(vault.reads).toBe(2);
  });

  it('invalid_grant, the vault unchanged: waits rotationGraceMs, then uses what another instance wrote', async () => {
    endpoint.answer = (rt) => (rt === 'rt-1' ? invalidGrant() : {});
    timers.onDelay = () => vault.put('rt-2');
    const cred = credential({ rotationGraceMs: 250 });
    expect((await cred.getToken('ignored')).token).toBe('at-for-rt-2');
    expect(timers.delays).toEqual([250]);
    expect(vault.reads).toBe(3);
  });

  it('waits the grace once only: a second refused token that stays in the vault ends it', async () => {
    endpoint.answer = () => invalidGrant();
    timers.onDelay = () => vault.put('rt-2');
    const error = await failure(credential().getToken('ignored'));
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-2']);
    expect(timers.delays).toEqual([1500]);
    expect(vault.reads).toBe(4);
    expect(error.message).toContain('refused the refresh token (invalid_grant (AADSTS70000)');
  });

  it('follows at most 4 newer tokens after a refusal, then requires consent', async () => {
    endpoint.answer = () => invalidGrant();
    vault.beforeRead = (read) => {
      if (read > 1) vault.put(`rt-${read}`);
    };
    const cred = credential();
    await failure(cred.getToken('ignored'));
    expect(endpoint.redeemed).toEqual(['rt-1', 'rt-2', 'rt-3', 'rt-4', 'rt-5']);
    expect(timers.delays).toEqual([]);

    // Refused was rt-5: a token newer than that, found at the recheck, is used.
    endpoint.answer = () => ({});
    vault.beforeRead = () => {};
    vault.put('rt-6');
    now += 10_000;
    await expect(cred.getToken('ignored')).resolves.toHaveProperty('token', 'at-for-rt-6');
  });

  it('the vault emptied after a refusal: consent required for the refused token', async () => {
    endpoint.answer = () => invalidGrant();
    vault.beforeRead = (read) => {
      if (read === 2) vault.versions.length = 0;
    };
    const error = await failure(credential().getToken('ignored'));
    expect(error.stage).toBe('consent');
    expect(timers.delays).toEqual([]);
    expect(vault.reads).toBe(2);
  });

  it('a newer token that fails otherwise is a token failure, not consent', async () => {
    endpoint.answer = (rt) =>
      rt === 'rt-1'
        ? invalidGrant()
        : new TokenEndpointError('temporarily_unavailable', 503, undefined, 'busy');
    vault.beforeRead = (read) => {
      if (read === 2) vault.put('rt-2');
    };
    const error = await failure(credential().getToken('ignored'));
    expect(error.stage).toBe('token');
    expect(error.statusCode).toBe(503);
    expect(error.message).toBe(
      'Microsoft Entra ID did not exchange the App+User refresh token: temporarily_unavailable: busy',
    );
    expect(events).toEqual([]);
  });
});

describe('AppUserCredential: other failures', () => {
  it('an error answer other than consent is a token failure with its status, first line only', async () => {
    endpoint.answer = () =>
      new TokenEndpointError('invalid_client', 401, 7000215, 'Invalid client secret provided.');
    const error = await failure(credential().getToken('ignored'));
    expect(error).toMatchObject({ stage: 'token', statusCode: 401 });
    expect(error.message).toBe(
      'Microsoft Entra ID did not exchange the App+User refresh token: invalid_client (AADSTS7000215): Invalid client secret provided.',
    );
    expect(error.cause).toBeInstanceOf(TokenEndpointError);
  });

  it('a network failure keeps its status code and only the first line of its message', async () => {
    const socket = Object.assign(new Error(`socket hang up ${'y'.repeat(400)}\n    at trace`), {
      statusCode: 599,
    });
    endpoint.answer = () => socket;
    const error = await failure(credential().getToken('ignored'));
    expect(error).toMatchObject({ stage: 'token', statusCode: 599, cause: socket });
    expect(error.message).toBe(
      `Microsoft Entra ID did not exchange the App+User refresh token: ${`socket hang up ${'y'.repeat(400)}`.slice(0, 300)}`,
    );
  });

  it('a thrown non-Error is named as it is', async () => {
    endpoint.answer = () => {
      throw 'boom';
    };
    const error = await failure(credential().getToken('ignored'));
    expect(error.message).toBe('Microsoft Entra ID did not exchange the App+User refresh token: boom');
  });

  it('a CredentialError (the app material) passes through unchanged', async () => {
    const appFailure = new CredentialError('the vault is gone', 'key_vault', 503);
    const cred = credential({
      appMaterial: {
        current: async () => {
          throw appFailure;
        },
      },
    });
    expect(await failure(cred.getToken('ignored'))).toBe(appFailure);
  });
});

describe('userImpersonationScopes', () => {
  it.each([
    ['https://api.partnercenter.microsoft.com/.default', 'https://api.partnercenter.microsoft.com'],
    ['https://api.partnercenter.microsoft.com//', 'https://api.partnercenter.microsoft.com'],
    ['https://api.partnercenter.microsoft.com', 'https://api.partnercenter.microsoft.com'],
    ['https://x.test/.defaults', 'https://x.test/.defaults'],
  ])('%s → user_impersonation of %s and offline_access', (appOnly, resource) => {
    expect(userImpersonationScopes(appOnly)).toBe(`${resource}/user_impersonation offline_access`);
  });
});
