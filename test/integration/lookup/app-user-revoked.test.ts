import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulators, SIMULATOR_DEFAULTS } from '../../../dev/simulators/index.js';
import { startTestApp, type TestApp } from '../../support/local-app.js';
import { type PendingLookup, pendingLookup } from '../../support/pending-lookup.js';
import { resetSimulators } from '../../support/simulators.js';

// App+User mode through the whole app on the local host, its consent revoked: a file of its own,
// because the app then stays consent-required (as it should) for every test after it.
let app: TestApp;
let sims: RunningSimulators;
const RT = SIMULATOR_DEFAULTS.refreshTokenSecretName;
/** A batch that stays `processing`: every lookup asks Partner Center (terminal ones are served from memory). */
let lookup: PendingLookup;

beforeAll(async () => {
  app = await startTestApp({
    tag: 'aur',
    simulators: { appUser: {}, userGrants: { revokeOnRotation: true } },
  });
  sims = app.sims;
  lookup = pendingLookup(app);
  // A warm app: it holds a rotated refresh token and an access token when the consent is revoked.
  expect((await lookup()).status).toBe(200);
});

afterAll(async () => {
  await app?.stop();
});

describe('App+User lookups, consent revoked', () => {
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
