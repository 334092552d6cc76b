import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulators, SIMULATOR_DEFAULTS } from '../../../dev/simulators/index.js';
import { REFRESH_TOKEN_CONTENT_TYPE } from '../../../shared/credentials/refresh-token-store.js';
import { startTestApp, type TestApp } from '../../support/local-app.js';
import { type PendingLookup, pendingLookup } from '../../support/pending-lookup.js';
import { resetSimulators } from '../../support/simulators.js';

// App+User mode through the whole app on the local host: SecretClient and the refresh-token
// exchange against the Key Vault and Entra simulators, Partner Center accepting user tokens only.
let app: TestApp;
let sims: RunningSimulators;
const RT = SIMULATOR_DEFAULTS.refreshTokenSecretName;
const APP_SECRET = SIMULATOR_DEFAULTS.secretName;
/** A batch that stays `processing`: every lookup asks Partner Center (terminal ones are served from memory). */
let lookup: PendingLookup;

beforeAll(async () => {
  app = await startTestApp({
    tag: 'au',
    simulators: { appUser: {}, userGrants: { revokeOnRotation: true } },
  });
  sims = app.sims;
  lookup = pendingLookup(app);
});

afterAll(async () => {
  await app?.stop();
});

// These tests are one sequence on one app, cold at the start (the first counts a cold start's
// vault reads and refresh exchange): kept in order even under --sequence.shuffle. A second app in
// this process would not be cold (the built modules and their composition root are cached).
describe('App+User lookups (secure application model)', { shuffle: false }, () => {
  it('50 concurrent cold lookups: one read of each secret, one refresh exchange, one vault write', async () => {
    const consented = sims.keyVault.getSecretValue(RT)!;
    resetSimulators(sims);

    const answers = await Promise.all(Array.from({ length: 50 }, () => lookup()));

    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(sims.keyVault.counters.secretReadsByName).toEqual({ [APP_SECRET]: 1, [RT]: 1 });
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);
    expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId]).toBe(1);
    expect(sims.keyVault.counters.secretWritesByName).toEqual({ [RT]: 1 });
    expect(sims.partnerCenter.counters.byStatus).toEqual({ '200': 50 });

    // The rotated token is the vault's latest version, labelled, and the one Entra now accepts.
    const versions = sims.keyVault.listVersions(RT);
    expect(versions).toHaveLength(2);
    const latest = versions.at(-1)!;
    expect(latest.value).not.toBe(consented);
    expect(sims.entra.users.isRefreshTokenValid(latest.value)).toBe(true);
    expect(sims.entra.users.isRefreshTokenValid(consented)).toBe(false);
    expect(latest.contentType).toBe(REFRESH_TOKEN_CONTENT_TYPE);
    expect(Date.now() - Date.parse(latest.tags!.rotatedAt!)).toBeLessThan(60_000);
    expect(latest.tags!.writtenBy).toMatch(/rotation/);
  });

  it('deep health reports the mode and the refresh token rotated moments ago', async () => {
    const res = await fetch(`${app.api}/health/deep`);
    const body = (await res.json()) as {
      status: string;
      authMode: string;
      components: Record<string, { status: string; ageSeconds?: number; detail?: string }>;
    };
    expect(res.status).toBe(200);
    expect(body.authMode).toBe('app_user');
    expect(body.components.refreshToken!.status).toBe('healthy');
    expect(body.components.refreshToken!.ageSeconds).toBeLessThan(120);
    expect(body.components.partnerCenterToken!.status).toBe('healthy');
  });

  it('a refresh token refused with invalid_grant is read again from the vault, where another instance rotated it', async () => {
    // Another instance rotated: what this one holds is revoked, the vault has a newer token.
    sims.entra.users.revokeRefreshTokens();
    const rotatedElsewhere = sims.entra.users.issueRefreshToken({
      clientId: sims.app.clientId,
      tenantId: sims.app.tenantId,
    });
    sims.keyVault.setSecret(RT, rotatedElsewhere, { contentType: REFRESH_TOKEN_CONTENT_TYPE });
    resetSimulators(sims);
    // A 401 makes the client drop its access token: the next one needs an exchange.
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });

    expect((await lookup()).status).toBe(200);
    expect(sims.entra.users.counters).toMatchObject({ refreshExchanges: 2, invalidGrants: 1 });
    expect(sims.keyVault.counters.secretReadsByName[RT]).toBe(1);
    expect(sims.entra.users.isRefreshTokenValid(sims.keyVault.getSecretValue(RT)!)).toBe(true);
  });

  it('a revoked refresh token: 502 consent-required, and no retry storm upstream', async () => {
    sims.entra.users.revokeRefreshTokens();
    resetSimulators(sims);
    // Partner Center's 401 drops the access token; the exchange is refused (invalid_grant).
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    const first = await lookup();
    expect(first.status).toBe(502);
    expect(first.json.type).toBe('/problems/consent-required');
    expect(first.json.detail).toMatch(/AADSTS50173.*sign in again.*npm run consent/s);

    const answers = await Promise.all(Array.from({ length: 30 }, () => lookup()));
    expect(answers.map((a) => a.json.type)).toEqual(Array(30).fill('/problems/consent-required'));
    // 31 lookups: one Partner Center call (the injected 401), one exchange, the vault read twice
    // (at once, and once more after the grace for a concurrent rotation), nothing else.
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect(sims.entra.users.counters).toMatchObject({ refreshExchanges: 1, invalidGrants: 1 });
    expect(sims.keyVault.counters.secretReadsByName[RT]).toBe(2);
    expect(sims.keyVault.counters.secretWrites).toBe(0);
  });
});
