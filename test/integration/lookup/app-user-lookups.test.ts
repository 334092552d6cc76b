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

// The app is cold when the file starts: its first lookups (50 at once) run before the checks, and
// what they cost is kept for the first one, so that each check stands on its own. The revoked
// consent, after which the app stays consent-required, is app-user-revoked.test.ts.
interface ColdStart {
  consented: string;
  statuses: number[];
  secretReadsByName: Record<string, number>;
  secretWritesByName: Record<string, number>;
  refreshExchanges: number;
  appTokenRequests: number | undefined;
  upstreamByStatus: Record<string, number>;
  versions: ReturnType<RunningSimulators['keyVault']['listVersions']>;
  latestValid: boolean;
}
let cold: ColdStart;

beforeAll(async () => {
  const consented = sims.keyVault.getSecretValue(RT)!;
  resetSimulators(sims);
  const answers = await Promise.all(Array.from({ length: 50 }, () => lookup()));
  cold = {
    consented,
    statuses: answers.map((a) => a.status),
    secretReadsByName: sims.keyVault.counters.secretReadsByName,
    secretWritesByName: sims.keyVault.counters.secretWritesByName,
    refreshExchanges: sims.entra.users.counters.refreshExchanges,
    appTokenRequests: sims.entra.counters.tokenRequestsByClientId[sims.app.clientId],
    upstreamByStatus: sims.partnerCenter.counters.byStatus,
    versions: sims.keyVault.listVersions(RT),
    latestValid: sims.entra.users.isRefreshTokenValid(sims.keyVault.getSecretValue(RT)!),
  };
});

describe('App+User lookups (secure application model)', () => {
  it('50 concurrent cold lookups: one read of each secret, one refresh exchange, one vault write', () => {
    expect(cold.statuses).toEqual(Array(50).fill(200));
    expect(cold.secretReadsByName).toEqual({ [APP_SECRET]: 1, [RT]: 1 });
    expect(cold.refreshExchanges).toBe(1);
    expect(cold.appTokenRequests).toBe(1);
    expect(cold.secretWritesByName).toEqual({ [RT]: 1 });
    expect(cold.upstreamByStatus).toEqual({ '200': 50 });

    // The rotated token is the vault's latest version, labelled, and the one Entra now accepts.
    expect(cold.versions).toHaveLength(2);
    const latest = cold.versions.at(-1)!;
    expect(latest.value).not.toBe(cold.consented);
    expect(cold.latestValid).toBe(true);
    expect(sims.entra.users.isRefreshTokenValid(cold.consented)).toBe(false);
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
});
