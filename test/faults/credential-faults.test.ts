import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../support/app-settings.js';
import { type BatchKey, type HttpInvocation, invokeLookup } from '../support/invoke.js';
import { resetSimulators } from '../support/simulators.js';

// Faults of the app's own credential chain (Key Vault, then the Entra token endpoint), as a caller
// of the live lookup sees them. Every test starts a cold app (its modules loaded afresh: no secret,
// token or MSAL throttling state from another test), so each fault is really met and the tests
// pass in any order.
let sims: RunningSimulators;
let getBatchStatus: typeof import('../../functions/getBatchStatus.js').getBatchStatus;
let batch: BatchKey;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({ PARTNER_CENTER_DEADLINE_MS: '20000' });
  batch = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), statuses: ['processing'] });
});

beforeEach(async () => {
  resetSimulators(sims);
  vi.resetModules();
  ({ getBatchStatus } = await import('../../functions/getBatchStatus.js'));
});

afterAll(async () => {
  await sims?.stop();
});

/**
 * Warms the app (the vault read and the vault's own token are then cached), and arranges that
 * the next lookup must ask Entra ID for a new app token: Partner Center answers it 401 once.
 */
async function dropAppToken(): Promise<void> {
  expect((await lookup()).status).toBe(200);
  resetSimulators(sims);
  sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
}

function lookup(): Promise<HttpInvocation> {
  return invokeLookup(getBatchStatus, batch);
}

/** The caller's view of a credential fault: 502, the caller did nothing wrong, nothing leaked. */
function expectCredentialProblem(res: HttpInvocation, detail: RegExp): void {
  expect(res.status).toBe(502);
  expect(res.headers.get('Content-Type')).toBe('application/problem+json');
  expect(res.json).toMatchObject({
    type: '/problems/credential-unavailable',
    status: 502,
    correlationId: res.headers.get('MS-CorrelationId'),
  });
  expect((res.json as { detail: string }).detail).toMatch(detail);
  expect(res.text).not.toContain(sims.app.clientSecret);
  expect(res.text).not.toContain(sims.developer.clientSecret);
  expect(res.text).not.toMatch(/\n\s+at /);
  expect(res.logs.some((l) => l.message.includes('/problems/internal'))).toBe(false);
}

describe('the app credential under Key Vault and Entra ID faults', () => {
  it('Key Vault 403 (no Secrets User role) → 502 credential-unavailable, Partner Center not called', async () => {
    sims.keyVault.failNext({ status: 403, times: 1 });
    const res = await lookup();
    expectCredentialProblem(res, /Key Vault Secrets User role/);
    expect(sims.keyVault.counters.injectedFailures).toBe(1);
    expect(sims.partnerCenter.counters.total).toBe(0);
  });

  it.each([500, 503])(
    'Key Vault %i on every attempt → 502 credential-unavailable after its retries',
    async (status) => {
      sims.keyVault.failNext({ status, times: 50 });
      const res = await lookup();
      expectCredentialProblem(res, new RegExp(`could not be read \\(${status}\\)`));
      expect(sims.keyVault.counters.injectedFailures).toBeGreaterThan(1);
      expect(sims.partnerCenter.counters.total).toBe(0);
    },
  );

  it('Key Vault without the secret (404) → 502 credential-unavailable naming the secret', async () => {
    sims.keyVault.deleteSecret(sims.env.PARTNER_CENTER_SECRET_NAME!);
    try {
      const res = await lookup();
      expectCredentialProblem(res, /partner-center-app-secret' .*was not found/);
      expect(sims.partnerCenter.counters.total).toBe(0);
    } finally {
      sims.keyVault.setSecret(sims.env.PARTNER_CENTER_SECRET_NAME!, sims.app.clientSecret);
    }
  });

  it('token endpoint invalid_client (the vault holds a secret Entra no longer accepts) → 502', async () => {
    sims.entra.setApplicationSecrets(sims.app.clientId, ['a-rotated-secret-the-vault-does-not-have']);
    try {
      const res = await lookup();
      expectCredentialProblem(res, /invalid_client|AADSTS7000215/);
      expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId.toLowerCase()]).toBeGreaterThan(0);
      expect(sims.partnerCenter.counters.total).toBe(0);
    } finally {
      sims.entra.setApplicationSecrets(sims.app.clientId, [sims.app.clientSecret]);
    }
  });

  it('recovers by itself once the fault is gone: 200, nothing cached from the failure', async () => {
    sims.keyVault.failNext({ status: 403, times: 1 });
    expectCredentialProblem(await lookup(), /Key Vault Secrets User role/);
    const res = await lookup();
    expect(res.status).toBe(200);
    expect(sims.keyVault.counters.injectedFailures).toBe(1);
    expect(sims.partnerCenter.counters.byStatus['200']).toBe(1);
  });

  it('Key Vault 403 while re-reading after a Partner Center 401 → 502, and the next call recovers', async () => {
    expect((await lookup()).status).toBe(200);
    resetSimulators(sims);
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    sims.keyVault.failNext({ status: 403, times: 1 });
    const res = await lookup();
    expectCredentialProblem(res, /Key Vault Secrets User role/);
    expect(sims.keyVault.counters.injectedFailures).toBe(1);
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect((await lookup()).status).toBe(200);
  });

  it('token endpoint 500 once → retried inside @azure/identity, the caller gets 200', async () => {
    await dropAppToken();
    sims.entra.failNext({ status: 500, times: 1, retryAfterSeconds: 0 });
    const res = await lookup();
    expect(res.status).toBe(200);
    expect(sims.entra.counters.injectedFailures).toBe(1);
  });

  it.each([500, 503])(
    'token endpoint %i on every attempt → 502 credential-unavailable, no status call without a token',
    async (status) => {
      await dropAppToken();
      sims.entra.failNext({ status, times: 50 });
      const res = await lookup();
      expectCredentialProblem(res, /Microsoft Entra ID refused a token/);
      // The fault was really met: the app's token requests were answered with this status.
      expect(sims.entra.counters.injectedFailures).toBeGreaterThan(0);
      expect(sims.entra.counters.tokenRequestsByClientId[sims.app.clientId.toLowerCase()]).toBe(
        sims.entra.counters.injectedFailures,
      );
      // Only the 401 reached Partner Center: no status call is made without a token.
      expect(sims.partnerCenter.counters.total).toBe(1);
    },
  );
});
