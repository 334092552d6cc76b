import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSimulators, SIMULATOR_DEFAULTS } from '../../../dev/simulators/index.js';
import { AppServices } from '../../../shared/composition.js';
import type { AppUserCredentialEvent } from '../../../shared/credentials/app-user-credential.js';
import { AppUserCredential } from '../../../shared/credentials/app-user-credential.js';
import { startTestSimulators } from '../../support/simulators.js';

// The App+User credential as the composition root builds it (SecretClient through
// DefaultAzureCredential, the core pipeline to the token endpoint), against the simulators.
const RT = SIMULATOR_DEFAULTS.refreshTokenSecretName;
const SCOPE = 'https://api.partnercenter.microsoft.com/user_impersonation';
let sims: RunningSimulators;
let certSims: RunningSimulators;

beforeAll(async () => {
  [sims, certSims] = await Promise.all([
    startTestSimulators({ appUser: {} }),
    startTestSimulators({ appUser: {}, appCredential: 'certificate' }),
  ]);
});

afterAll(async () => {
  await Promise.all([sims?.stop(), certSims?.stop()]);
});

beforeEach(() => {
  for (const s of [sims, certSims]) {
    s.keyVault.reset();
    s.entra.reset();
  }
});

/** A fresh credential (cold caches) wired by the composition root, its events collected. */
function credential(target: RunningSimulators, events: AppUserCredentialEvent[] = []): AppUserCredential {
  // DefaultAzureCredential finds the developer identity through the AZURE_* variables, as on a laptop.
  Object.assign(process.env, {
    AZURE_TENANT_ID: target.env.AZURE_TENANT_ID,
    AZURE_CLIENT_ID: target.env.AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET: target.env.AZURE_CLIENT_SECRET,
  });
  const services = new AppServices(target.env);
  const { refreshTokens, endpoint, scope } = services.secureApplicationModel;
  return new AppUserCredential({
    appMaterial: services.appCredential,
    refreshTokens,
    endpoint,
    scope,
    writeRetryDelayMs: 1,
    onEvent: (event) => events.push(event),
  });
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

describe('AppUserCredential', () => {
  it('exchanges with a certificate client assertion and gets a user token for user_impersonation', async () => {
    const token = await credential(certSims).getToken(SCOPE);
    expect(claims(token.token)).toMatchObject({
      aud: 'https://api.partnercenter.microsoft.com',
      idtyp: 'user',
      scp: 'user_impersonation',
      amr: ['pwd', 'mfa'],
      appid: certSims.app.clientId,
      appidacr: '2',
    });
    expect(certSims.entra.counters.tokenRequestsByGrant.assertion).toBe(1);
    expect(certSims.entra.users.counters.refreshExchanges).toBe(1);
  });

  it('merges 50 concurrent cold requests into one vault read and one exchange', async () => {
    // The Partner Center client's bearer policy merges its own refreshes; the deep health probe and
    // any other caller of the credential rely on this one.
    const cred = credential(sims);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => cred.getToken(SCOPE)));
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);
    expect(sims.keyVault.counters.secretReadsByName[RT]).toBe(1);
    expect(sims.keyVault.counters.secretWritesByName[RT]).toBe(1);
  });

  it('caches the access token until shortly before it expires', async () => {
    const cred = credential(sims);
    const first = await cred.getToken(SCOPE);
    const again = await Promise.all(Array.from({ length: 20 }, () => cred.getToken(SCOPE)));
    expect(new Set(again.map((t) => t.token))).toEqual(new Set([first.token]));
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);
    expect(first.expiresOnTimestamp - Date.now()).toBeGreaterThan(55 * 60_000);
  });

  it('a write-back the vault refuses is retried, reported, and retried on the next exchange; the app keeps its token', async () => {
    const events: AppUserCredentialEvent[] = [];
    const cred = credential(sims, events);
    await cred.getToken(SCOPE);
    events.length = 0;
    const before = sims.keyVault.listVersions(RT).length;
    sims.keyVault.failNext({ status: 403, times: 3, secretName: RT });

    cred.invalidate();
    await expect(cred.getToken(SCOPE)).resolves.toHaveProperty('token');
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'rotation_write_failed',
        attempts: 3,
        reason: expect.stringMatching(/Secrets Officer/),
      }),
    ]);
    expect(sims.keyVault.listVersions(RT)).toHaveLength(before);
    expect((await cred.status()).writePending).toBe(true);

    // The next exchange writes the held token first, then its own rotation: nothing is lost.
    cred.invalidate();
    await cred.getToken(SCOPE);
    expect(events.slice(1).map((e) => e.kind)).toEqual(['rotation_written', 'rotation_written']);
    expect(sims.keyVault.listVersions(RT)).toHaveLength(before + 2);
    expect(sims.entra.users.isRefreshTokenValid(sims.keyVault.getSecretValue(RT)!)).toBe(true);
    expect((await cred.status()).writePending).toBe(false);
  });

  it('no refresh token in the vault: consent required, and the vault is not read again at once', async () => {
    const consented = sims.keyVault.getSecretValue(RT)!;
    sims.keyVault.deleteSecret(RT);
    try {
      const cred = credential(sims);
      await expect(cred.getToken(SCOPE)).rejects.toMatchObject({ stage: 'consent' });
      await expect(cred.getToken(SCOPE)).rejects.toMatchObject({ stage: 'consent' });
      expect(sims.keyVault.counters.secretReadsByName[RT]).toBe(1);
      expect(sims.entra.users.counters.refreshExchanges).toBe(0);
    } finally {
      // The consent comes back, so the other tests find a refresh token whatever their order.
      sims.keyVault.setSecret(RT, consented);
    }
  });
});
