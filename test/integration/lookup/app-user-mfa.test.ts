import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { startTestApp, type TestApp } from '../../support/local-app.js';
import { type PendingLookup, pendingLookup } from '../../support/pending-lookup.js';

// App+User with a consent whose sign-in had no MFA: Partner Center refuses its tokens with 401
// (code 900421), as it does since 2026-04-01.
let app: TestApp;
let sims: RunningSimulators;
let lookup: PendingLookup;

beforeAll(async () => {
  app = await startTestApp({ tag: 'mfa', simulators: { appUser: { user: { mfa: false } } } });
  sims = app.sims;
  lookup = pendingLookup(app);
});

afterAll(async () => {
  await app?.stop();
});

describe('App+User without MFA', () => {
  it("Partner Center's 401 for missing MFA → 502 consent-required, not retried, and not asked again", async () => {
    const first = await lookup();
    expect(first.status).toBe(502);
    expect(first.json).toMatchObject({
      type: '/problems/consent-required',
      upstream: { status: 401, code: '900421' },
    });
    expect(first.json.detail).toMatch(/MFA.*npm run consent/);
    expect(sims.partnerCenter.counters.byStatus).toEqual({ '401': 1 });
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);

    const answers = await Promise.all(Array.from({ length: 10 }, () => lookup()));
    for (const answer of answers) {
      expect(answer.status).toBe(502);
      expect(answer.json.type).toBe('/problems/consent-required');
      expect(answer.json.detail).toMatch(/no MFA.*npm run consent/);
    }
    // Until the vault holds another refresh token, neither Partner Center nor Entra is asked again.
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);
  });
});
