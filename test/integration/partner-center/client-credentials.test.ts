import type { GetTokenOptions } from '@azure/core-auth';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppCredential, KeyVaultCredentialSource } from '../../../shared/credentials/app-credential.js';
import type { RotatableCredential } from '../../../shared/partner-center/pipeline.js';
import { developerSecretClient } from '../../support/simulators.js';
import { waitFor } from '../../support/wait.js';
import { partnerCenterClientFixture } from './client-fixture.js';

// The client with the app's own credential (AppCredential, material from the vault simulator):
// what a credential that fails, a refused token (401), a refusal for missing MFA and a caller
// who gives up in the middle of a call do to one call, and to the next.

const fixture = partnerCenterClientFixture();
const { calls, failure } = fixture;
const sims = () => fixture.sims();

/** AppCredential as the composition root builds it, reading `secretName` from the vault simulator. */
function appCredential(secretName = 'partner-center-app-secret'): AppCredential {
  const { app, entra } = sims();
  return new AppCredential({
    tenantId: app.tenantId,
    clientId: app.clientId,
    source: new KeyVaultCredentialSource(developerSecretClient(sims()), secretName),
    cacheTtlMs: 60_000,
    authorityHost: entra.url,
    disableInstanceDiscovery: true,
  });
}

/**
 * The credential as the pipeline sees it, recording what it is asked: the claims of every token
 * request (the pipeline's internal markers must never reach the credential), every invalidate()
 * and every consent refusal. `consentRefused` is there only when asked for (App+User has it).
 */
function observed(credential: AppCredential, options: { consent?: boolean } = {}) {
  const tokenRequests: (string | undefined)[] = [];
  const invalidations: number[] = [];
  const refusals: string[] = [];
  const wrapper: RotatableCredential = {
    getToken: (scopes: string | string[], tokenOptions?: GetTokenOptions) => {
      tokenRequests.push(tokenOptions?.claims);
      return credential.getToken(scopes, tokenOptions);
    },
    invalidate: () => {
      invalidations.push(tokenRequests.length);
      credential.invalidate();
    },
    ...(options.consent ? { consentRefused: (reason: string) => refusals.push(reason) } : {}),
  };
  return { wrapper, tokenRequests, invalidations, refusals };
}

const clientWith = (credential: RotatableCredential) => fixture.client({}, { credential });

const newBatch = () => fixture.newBatch(1);
beforeEach(() => {
  sims().partnerCenter.reset();
  sims().keyVault.reset();
});
const statuses = () => sims().partnerCenter.requests.map((r) => r.status);

describe('PartnerCenterClient with the app credential', () => {
  it('names a credential that cannot be read a credential failure, and asks Partner Center nothing', async () => {
    const batch = newBatch();
    const refused = await failure(
      clientWith(appCredential('no-such-secret')).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(refused.failure).toBe('credential');
    expect(refused.message).toMatch(
      /^The app could not authenticate to Partner Center: Key Vault secret 'no-such-secret' .+/,
    );
    expect(refused.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sims().partnerCenter.requests).toEqual([]);
    expect(sims().keyVault.counters.secretReadsByName['no-such-secret']).toBeGreaterThan(0);
    expect(calls.map((c) => [c.status, c.failure])).toEqual([[undefined, 'credential']]);
  });

  it('re-reads the vault after a 401 and sends the call once more, with no marker reaching the credential', async () => {
    const batch = newBatch();
    const credential = observed(appCredential());
    const client = clientWith(credential.wrapper);
    await client.getBatchStatus(batch.customerId, batch.trackingId);
    sims().keyVault.reset();
    sims().partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });

    const answer = await client.getBatchStatus(batch.customerId, batch.trackingId);
    expect(answer.details.batchTrackingId).toBe(batch.trackingId);
    expect(statuses()).toEqual([200, 401, 200]);
    expect(credential.invalidations).toEqual([1]);
    expect(sims().keyVault.counters.secretReads).toBe(1);
    expect(credential.tokenRequests).toEqual([undefined, undefined]);
    // The retried request carries a token again, not the refused request's headers alone.
    const [, refusedRequest, retried] = sims().partnerCenter.requests;
    expect(retried?.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(retried?.headers['ms-requestid']).toBe(refusedRequest?.headers['ms-requestid']);
  });

  it('answers a second 401 in a row with the 401, without a third request', async () => {
    const batch = newBatch();
    const credential = observed(appCredential());
    sims().partnerCenter.inject({ kind: 'status', status: 401 }, { times: 2 });
    const refused = await failure(
      clientWith(credential.wrapper).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(refused).toMatchObject({ failure: 'http', statusCode: 401 });
    expect(statuses()).toEqual([401, 401]);
    expect(credential.invalidations).toEqual([1]);
  });

  it('does not rotate a credential that cannot be invalidated: one 401, one request', async () => {
    const batch = newBatch();
    const credential = appCredential();
    sims().partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    const refused = await failure(
      clientWith({ getToken: (scopes, options) => credential.getToken(scopes, options) }).getBatchStatus(
        batch.customerId,
        batch.trackingId,
      ),
    );
    expect(refused).toMatchObject({ failure: 'http', statusCode: 401 });
    expect(statuses()).toEqual([401]);
  });

  it("reports a 401 for missing MFA as the consent's refusal, fetches a fresh token for the next call, and rotates nothing", async () => {
    const batch = newBatch();
    const credential = observed(appCredential(), { consent: true });
    const client = clientWith(credential.wrapper);
    await client.getBatchStatus(batch.customerId, batch.trackingId);
    sims().partnerCenter.inject(
      {
        kind: 'status',
        status: 401,
        code: '900421',
        description: 'Multi-factor authentication is required.',
      },
      { times: 1 },
    );

    const refused = await failure(client.getBatchStatus(batch.customerId, batch.trackingId));
    expect(refused).toMatchObject({ failure: 'http', statusCode: 401, code: '900421' });
    expect(refused.isMissingMfa).toBe(true);
    expect(credential.refusals).toEqual([
      "Partner Center refuses its tokens: the admin's sign-in had no MFA",
    ]);
    expect(credential.invalidations).toEqual([]);
    expect(statuses()).toEqual([200, 401]);
    // The policy kept the token until now; after a refusal it asks the credential again (without
    // its internal marker), so a new consent is used at once.
    expect(credential.tokenRequests).toEqual([undefined]);
    await client.getBatchStatus(batch.customerId, batch.trackingId);
    expect(credential.tokenRequests).toEqual([undefined, undefined]);
    await client.getBatchStatus(batch.customerId, batch.trackingId);
    expect(credential.tokenRequests).toEqual([undefined, undefined]);
  });

  it('names a 401 for missing MFA as such when the credential has no consent to refuse', async () => {
    const batch = newBatch();
    const credential = observed(appCredential());
    sims().partnerCenter.inject(
      { kind: 'status', status: 401, code: '', description: 'Access needs MFA.' },
      { times: 1 },
    );
    const refused = await failure(
      clientWith(credential.wrapper).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(refused.isMissingMfa).toBe(true);
    expect(credential.invalidations).toEqual([]);
    expect(statuses()).toEqual([401]);
  });

  it('ends a call at once when its caller gives up while Partner Center is still answering', async () => {
    const batch = newBatch();
    sims().partnerCenter.inject({ kind: 'latency', ms: 60_000 }, { times: 1 });
    const caller = new AbortController();
    const reason = new DOMException('the caller gave up', 'AbortError');
    const call = clientWith(appCredential())
      .getBatchStatus(batch.customerId, batch.trackingId, { abortSignal: caller.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // The request has reached Partner Center (the simulator counts it on arrival).
    await waitFor(() => sims().partnerCenter.counters.total === 1, { description: 'the request to arrive' });
    caller.abort(reason);

    const error = await call;
    expect((error as Error).name).toBe('AbortError');
    expect(error).not.toHaveProperty('failure');
    expect(calls.map((c) => [c.status, c.failure])).toEqual([[undefined, 'aborted']]);
  });
});
