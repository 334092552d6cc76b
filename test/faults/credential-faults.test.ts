import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../support/app-settings.js';
import { type BatchKey, type HttpInvocation, invokeLookup } from '../support/invoke.js';

// Faults of the app's own credential chain (Key Vault, then the Entra token endpoint), as a caller
// of the live lookup sees them. A process of its own, started cold: the steps run in order, each
// with nothing cached that would hide its fault.
let sims: RunningSimulators;
let getBatchStatus: typeof import('../../functions/getBatchStatus.js').getBatchStatus;
let batch: BatchKey;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers({ PARTNER_CENTER_DEADLINE_MS: '20000' });
  ({ getBatchStatus } = await import('../../functions/getBatchStatus.js'));
  batch = sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), statuses: ['processing'] });
});

afterAll(async () => {
  await sims?.stop();
});

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
      sims.keyVault.reset();
      sims.keyVault.failNext({ status, times: 50 });
      const res = await lookup();
      expectCredentialProblem(res, new RegExp(`could not be read \\(${status}\\)`));
      expect(sims.keyVault.counters.injectedFailures).toBeGreaterThan(1);
      expect(sims.partnerCenter.counters.total).toBe(0);
      sims.keyVault.reset();
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
      expect(sims.partnerCenter.counters.total).toBe(0);
    } finally {
      sims.entra.setApplicationSecrets(sims.app.clientId, [sims.app.clientSecret]);
    }
  });

  it('recovers by itself once the faults are gone: 200, nothing cached from the failures', async () => {
    const res = await lookup();
    expect(res.status).toBe(200);
    expect(sims.partnerCenter.counters.byStatus['200']).toBe(1);
  });

  it('Key Vault 403 while re-reading after a Partner Center 401 → 502, and the next call recovers', async () => {
    sims.partnerCenter.reset();
    sims.keyVault.reset();
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    sims.keyVault.failNext({ status: 403, times: 1 });
    const res = await lookup();
    expectCredentialProblem(res, /Key Vault Secrets User role/);
    expect(sims.partnerCenter.counters.total).toBe(1);
    expect((await lookup()).status).toBe(200);
  });
  it('token endpoint 500 once → retried inside @azure/identity, the caller gets 200', async () => {
    sims.entra.reset();
    sims.partnerCenter.reset();
    sims.entra.failNext({ status: 500, times: 1, retryAfterSeconds: 0 });
    // Drop the cached token so that this lookup must ask Entra ID: a Partner Center 401 does that.
    sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    const res = await lookup();
    expect(res.status).toBe(200);
    expect(sims.entra.counters.injectedFailures).toBe(1);
    sims.entra.reset();
  });

  // Last on purpose: after a final 5xx from the token endpoint, MSAL refuses token requests for
  // 60 s (it reads Retry-After case-sensitively, and @azure/identity hands it lower-case headers).
  it('token endpoint 5xx on every attempt → 502 credential-unavailable, no status call without a token', async () => {
    for (const [index, status] of [500, 503].entries()) {
      sims.entra.reset();
      sims.partnerCenter.reset();
      sims.entra.failNext({ status, times: 50 });
      // The first round drops the cached token with a 401; after it there is no token to drop.
      if (index === 0) sims.partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
      const res = await lookup();
      expectCredentialProblem(res, /Microsoft Entra ID refused a token/);
      // Only that 401 reached Partner Center: no status call is made without a token.
      expect(sims.partnerCenter.counters.total).toBe(index === 0 ? 1 : 0);
    }
    sims.entra.reset();
  });
});
