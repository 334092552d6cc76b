import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulators, SIMULATOR_DEFAULTS } from '../../dev/simulators/index.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { SecretCapture } from '../support/secret-capture.js';

// The secret canary of secret-canary.test.ts in App+User mode: the app credential is a canary,
// every access token presented upstream is intercepted, and every refresh token Entra ever issued
// is known. Rotations, a vault refusing the write-back, a re-exchange, a revoked consent and a
// sweep run through the local host; no log line, response, tracking record or blob may hold any of
// them, and the refresh tokens live nowhere but in the vault. The scenario runs once, before the
// checks, so that each check stands on its own.
const CANARY = `CANARY-${randomBytes(12).toString('hex')}`;
const DEV_CANARY = `CANARY-DEV-${randomBytes(12).toString('hex')}`;
const RT = SIMULATOR_DEFAULTS.refreshTokenSecretName;

let app: TestApp;
let sims: RunningSimulators;
const accessTokens = new Set<string>();
const capturing = new SecretCapture();

beforeAll(async () => {
  capturing.install();
  app = await startTestApp({
    tag: 'scau',
    simulators: {
      clientSecret: CANARY,
      developer: { clientSecret: DEV_CANARY },
      appUser: {},
      userGrants: { revokeOnRotation: true },
    },
    beforeStart: ({ entra }) => {
      const verify = entra.verifyAccessToken.bind(entra);
      entra.verifyAccessToken = async (token, ...rest) => {
        accessTokens.add(token);
        return verify(token, ...rest);
      };
    },
    env: { PARTNER_CENTER_DEADLINE_MS: '5000', PARTNER_CENTER_MAX_RETRIES: '1' },
    logger: capturing.hostLogger,
  });
  sims = app.sims;
  await runScenario();
});

afterAll(async () => {
  capturing.uninstall();
  await app?.stop();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${app.api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  capturing.capture(
    `response ${method} ${path}`,
    `${res.status}\n${[...res.headers].map(([n, v]) => `${n}: ${v}`).join('\n')}\n\n${text}`,
  );
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

/** Rotations, a refused write-back, a re-exchange, a revoked consent and a sweep, with canaries. */
async function runScenario(): Promise<void> {
  const customerId = crypto.randomUUID();
  const pending = sims.partnerCenter.createBatch({ customerId, devices: 1, statuses: ['processing'] });
  const lookupPath = `/customers/${pending.customerId}/batchJobStatus/${pending.trackingId}`;

  expect((await call('GET', lookupPath)).status).toBe(200);
  // The vault refuses the next write-back (three attempts): reported, and the lookup still works.
  sims.keyVault.failNext({ status: 403, times: 3, secretName: RT });
  sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
  expect((await call('GET', lookupPath)).status).toBe(200);
  expect((await call('GET', '/health/deep')).json).toMatchObject({
    status: 'degraded',
    components: { refreshToken: { status: 'degraded' } },
  });
  // The next exchange writes the held token first, then its own rotation.
  sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
  expect((await call('GET', lookupPath)).status).toBe(200);
  expect(sims.entra.users.isRefreshTokenValid(sims.keyVault.getSecretValue(RT)!)).toBe(true);

  // Consent revoked: lookups and the sweep's check fail with consent-required.
  sims.entra.users.revokeRefreshTokens();
  sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
  expect((await call('GET', lookupPath)).json).toMatchObject({ type: '/problems/consent-required' });
  expect((await call('POST', '/trackings', { location: pending.location })).status).toBe(201);
  expect((await app.local.host.invoke('sweepPendingTrackings')).status).toBe('succeeded');
  expect((await call('GET', `/trackings/${customerId}/${pending.trackingId}`)).json).toHaveProperty(
    'lastError',
  );
  expect((await call('GET', '/health/deep')).status).toBe(503);

  await capturing.captureStorage(app.names);
}

describe('App+User: refresh and access tokens never leave the app but for the vault', () => {
  it('captured what it set out to capture (so that the checks below can fail)', () => {
    const { captured } = capturing;
    const sources = new Set(captured.map((c) => c.source.split(' ')[0]));
    for (const source of ['host-log', 'response', 'table', 'azure-sdk', 'stderr']) {
      expect(sources, source).toContain(source);
    }
    const said = (text: string) => captured.filter((c) => c.text.includes(text)).map((c) => c.source);
    expect(said('rotation_write_failed: ')).toContain('stderr');
    expect(said('consent_required: ')).toContain('stderr');
    expect(said('/problems/consent-required').length).toBeGreaterThan(0);
    const scopes = [...accessTokens].map(
      (t) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).scp as string | undefined,
    );
    expect(scopes).toContain('user_impersonation');
    // Four rotations happened (the first lookup, two re-exchanges, none after the revocation).
    expect(sims.entra.users.issuedRefreshTokens().length).toBeGreaterThanOrEqual(4);
  });

  it('never shows a refresh token, an access token or a canary outside the vault', () => {
    const refreshTokens = sims.entra.users.issuedRefreshTokens();
    const secrets = [
      CANARY,
      DEV_CANARY,
      ...refreshTokens,
      ...[...accessTokens],
      ...[...accessTokens].map((t) => t.split('.')[2]!),
    ];
    expect(capturing.leaks(secrets)).toEqual([]);
    expect(capturing.tokenLookalikes()).toEqual([]);
    // Every refresh token the app received is in the vault, as one version each.
    const stored = new Set(sims.keyVault.listVersions(RT).map((v) => v.value));
    expect(refreshTokens.filter((t) => !stored.has(t))).toEqual([]);
  });
});
