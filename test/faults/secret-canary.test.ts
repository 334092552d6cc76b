import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApp } from '../../dev/serve.js';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  type RunningSimulators,
} from '../../dev/simulators/index.js';
import { type IngestionSimulator, startIngestionSimulator } from '../../dev/simulators/ingestion.js';
import type { StorageNames } from '../support/app-settings.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { SecretCapture } from '../support/secret-capture.js';
import { testTls } from '../support/simulators.js';

// A recognisable canary as the app's credential (the Key Vault secret) and as the developer
// identity's secret; every bearer token the app presents is intercepted where the simulators check
// it. Lookups, registrations, sweeps and failures run through the local host with telemetry on
// (Application Insights, to the local ingestion endpoint), with every log line, every response,
// every telemetry envelope and every stored record and blob captured; none may hold a canary or a
// token. The scenario runs once, before the checks, so that each check stands on its own.
const CANARY = `CANARY-${randomBytes(12).toString('hex')}`;
const DEV_CANARY = `CANARY-DEV-${randomBytes(12).toString('hex')}`;

let app: TestApp;
let sims: RunningSimulators;
let local: LocalApp;
let names: StorageNames;
let ingestion: IngestionSimulator | undefined;
const tokens = new Set<string>();
const capturing = new SecretCapture();
const { captured } = capturing;
const capture = (source: string, text: string) => capturing.capture(source, text);

beforeAll(async () => {
  // Process output (SDK logging included, turned up to verbose for this test) is captured too.
  capturing.install();

  app = await startTestApp({
    tag: 'sc',
    simulators: { clientSecret: CANARY, developer: { clientSecret: DEV_CANARY } },
    // Every token presented to Partner Center or Key Vault passes through here.
    beforeStart: async ({ entra }) => {
      const verify = entra.verifyAccessToken.bind(entra);
      entra.verifyAccessToken = async (token, ...rest) => {
        tokens.add(token);
        return verify(token, ...rest);
      };
      ingestion = await startIngestionSimulator({ tls: testTls(), entra });
    },
    env: () => ({
      PARTNER_CENTER_DEADLINE_MS: '3000',
      PARTNER_CENTER_MAX_RETRIES: '1',
      APPLICATIONINSIGHTS_CONNECTION_STRING: ingestion!.connectionString,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
    }),
    logger: capturing.hostLogger,
  });
  ({ sims, local, names } = app);
  await runScenario();
});

afterAll(async () => {
  capturing.uninstall();
  await app?.stop();
  await ingestion?.stop();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${local.url}/api${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  capture(
    `response ${method} ${path}`,
    `${res.status}\n${[...res.headers].map(([n, v]) => `${n}: ${v}`).join('\n')}\n\n${text}`,
  );
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

async function sweep(): Promise<void> {
  const outcome = await local.host.invoke('sweepPendingTrackings');
  expect(outcome.status).toBe('succeeded');
}

/** Lookups, registrations, sweeps and failures with a canary credential; everything said or stored is captured. */
async function runScenario(): Promise<void> {
  {
    const customerId = crypto.randomUUID();
    const finished = sims.partnerCenter.createBatch({
      customerId,
      devices: [{ serialNumber: 'A' }, { serialNumber: 'B', errorCode: '808' }],
      statuses: ['finished'],
    });
    const pending = sims.partnerCenter.createBatch({ customerId, devices: 2, statuses: ['processing'] });
    const lookupPath = (b: { customerId: string; trackingId: string }) =>
      `/customers/${b.customerId}/batchJobStatus/${b.trackingId}`;

    // Cold, with Entra ID refusing the vault's secret: invalid_client.
    sims.entra.setApplicationSecrets(sims.app.clientId, ['not-the-canary']);
    expect((await call('GET', lookupPath(finished))).status).toBe(502);
    sims.entra.setApplicationSecrets(sims.app.clientId, [CANARY]);

    // The happy paths.
    expect(
      (await call('GET', `/customers/${DOCS_EXAMPLE_CUSTOMER_ID}/batchJobStatus/${DOCS_EXAMPLE_TRACKING_ID}`))
        .status,
    ).toBe(200);
    for (const b of [finished, pending])
      expect((await call('POST', '/trackings', { location: b.location, label: 'canary' })).status).toBe(201);
    await sweep();
    expect(
      (await call('GET', `/trackings/${finished.customerId}/${finished.trackingId}?include=devices`)).json,
    ).toMatchObject({ state: 'finished' });
    expect((await call('GET', `/trackings?customerId=${customerId}`)).status).toBe(200);

    // Partner Center 401, then the vault refusing the re-read (403).
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    sims.keyVault.failNext({ status: 403, times: 1 });
    expect((await call('GET', lookupPath(pending))).json).toMatchObject({
      type: '/problems/credential-unavailable',
    });
    // Partner Center refusing every token: the lookup fails, and so does the sweep's check (stored as lastError).
    sims.partnerCenter.inject({ kind: 'status', status: 401 });
    expect((await call('GET', lookupPath(pending))).json).toMatchObject({
      type: '/problems/upstream-authorization',
    });
    const refused = sims.partnerCenter.createBatch({ customerId, devices: 1, statuses: ['processing'] });
    expect((await call('POST', '/trackings', { location: refused.location })).status).toBe(201);
    await sweep();
    sims.partnerCenter.clearFaults();
    expect((await call('GET', `/trackings/${refused.customerId}/${refused.trackingId}`)).json).toMatchObject({
      lastError: { status: 401 },
    });
    // A secret missing from the vault, found on the re-read after a 401.
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    sims.keyVault.deleteSecret(sims.env.PARTNER_CENTER_SECRET_NAME!);
    expect((await call('GET', lookupPath(pending))).status).toBe(502);
    sims.keyVault.setSecret(sims.env.PARTNER_CENTER_SECRET_NAME!, CANARY);
    // Upstream faults and bad input.
    sims.partnerCenter.inject({ kind: 'malformed' }, { times: 1 });
    expect((await call('GET', lookupPath(pending))).status).toBe(502);
    expect((await call('GET', '/customers/not-a-guid/batchJobStatus/x')).status).toBe(400);
    expect((await call('POST', '/trackings', { location: 'nope' })).status).toBe(400);
    expect((await call('GET', lookupPath(pending))).status).toBe(200);

    // Everything stored: the three tables and every result blob.
    await capturing.captureStorage(names);
    // Every telemetry envelope the app sent (the local host loaded the built modules in this process).
    const { services } = await import(`${'../../dist/shared/composition.js'}`);
    await (services() as import('../../shared/composition.js').AppServices).telemetry.flush();
    for (const body of ingestion!.rawBodies) capture('telemetry', body);
  }
}

describe('secrets and tokens never leave the app', () => {
  it('captured what it set out to capture (so that the checks below can fail)', () => {
    const sources = new Set(captured.map((c) => c.source.split(' ')[0]));
    for (const source of [
      'host-log',
      'response',
      'table',
      'blob',
      'invocation-context',
      'azure-sdk',
      'telemetry',
    ]) {
      expect(sources, source).toContain(source);
    }
    // Tokens for Key Vault (developer identity) and for Partner Center (the app) were both seen.
    const audiences = [...tokens].map(
      (t) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).aud as string,
    );
    expect(audiences).toEqual(
      expect.arrayContaining(['https://vault.azure.net', 'https://api.partnercenter.microsoft.com']),
    );
    expect(captured.some((c) => c.text.includes('credential-unavailable'))).toBe(true);
    // Telemetry carried the failures and the upstream calls, so its envelopes were worth searching.
    const telemetry = captured.filter((c) => c.source === 'telemetry').map((c) => c.text);
    expect(telemetry.join('\n')).toMatch(/RequestFailed/);
    expect(telemetry.join('\n')).toMatch(/RemoteDependencyData/);
    expect(captured.some((c) => c.source.startsWith('table') && c.text.includes('lastError'))).toBe(true);
  });

  it('never shows the canary secrets or any bearer token in logs, responses or storage', () => {
    const secrets = [CANARY, DEV_CANARY, ...tokens, ...[...tokens].map((t) => t.split('.')[2]!)];
    expect(capturing.leaks(secrets)).toEqual([]);
    // Nothing that even looks like a JWT or a bearer credential.
    expect(capturing.tokenLookalikes()).toEqual([]);
  });
});
