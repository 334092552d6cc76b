/**
 * The token-endpoint window: after Entra ID answers 429 or 503, how long does MSAL (behind the
 * real @azure/identity credential) hold new token requests, and so how long do cold lookups answer
 * 502? Each case is a cold start: the app's modules are loaded afresh, so no token is cached.
 *
 * Two layers decide: @azure/identity's own pipeline retries a refused token request (3 retries,
 * waiting `Retry-After` when there is one, else its exponential backoff), and only when they are
 * spent does MSAL see the failure and hold that token request: for `Retry-After` seconds when
 * sent, else for its 60 s default.
 *
 * - With `Retry-After: 1`, once: the SDK's retry answers the same lookup; for 6 s running: MSAL
 *   holds about a second, so lookups answer 200 right after the outage ends. The recovery time is
 *   measured and printed; the simulator must have seen MSAL try again inside the outage, which a
 *   60 s hold would not allow.
 * - Without `Retry-After`, once: the SDK's retry answers it. Outlasting its retries: MSAL still
 *   holds for 60 s. A test clock (Date only; the network and timers stay real) shows it: 30 s
 *   later it refuses without asking Entra; past 60 s it asks again and the lookup answers 200.
 * - A warm instance rides out that hold on its still-valid cached token.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { startSimulatorsForHandlers } from '../../support/app-settings.js';
import { type HttpHandler, invokeLookup } from '../../support/invoke.js';
import { resetSimulators } from '../../support/simulators.js';
import { waitFor } from '../../support/wait.js';

let sims: RunningSimulators;

beforeAll(async () => {
  sims = await startSimulatorsForHandlers();
});

afterEach(() => {
  vi.useRealTimers();
  resetSimulators(sims);
});

afterAll(async () => {
  await sims?.stop();
});

/** A cold instance: the function module and its composition root loaded afresh (no cached credential). */
async function coldLookup(): Promise<HttpHandler> {
  vi.resetModules();
  const { getBatchStatus } = await import('../../../functions/getBatchStatus.js');
  return getBatchStatus;
}

function pendingBatch() {
  return sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: 1,
    statuses: ['processing'],
  });
}

/** Partner Center token requests (the vault's identity has its own client id and is never failed here). */
function appTokenRequests(): number {
  return sims.entra.counters.tokenRequestsByClientId[sims.app.clientId.toLowerCase()] ?? 0;
}

/** How long ago the simulator answered its last injected refusal. */
function sinceLastRefusal(): number {
  const at = sims.entra.lastInjectedFailureAt;
  if (at === undefined) throw new Error('the simulator refused no token request');
  return Date.now() - at;
}

/**
 * Polls lookups until one answers 200 (bounded: a 60 s hold would exhaust the poll) and says how
 * long after `faultEndedAt` that was.
 */
async function recoveryAfter(lookup: () => ReturnType<typeof invokeLookup>, faultEndedAt: number) {
  const statuses: number[] = [];
  await waitFor(
    async () => {
      const answer = await lookup();
      statuses.push(answer.status);
      return answer.status === 200;
    },
    { intervalMs: 50, timeoutMs: 30_000, description: 'a lookup answering 200 after the token fault' },
  );
  return { recoveryMs: Math.max(0, Date.now() - faultEndedAt), statuses };
}

describe('the token endpoint answering 429/503 on a cold start', () => {
  it.each([429, 503])(
    'one %i with Retry-After: 1: the SDK waits that second and the same lookup answers 200',
    async (status) => {
      const getBatchStatus = await coldLookup();
      const batch = pendingBatch();
      sims.entra.failNext({ status, retryAfterSeconds: 1, clientId: sims.app.clientId });

      const answer = await invokeLookup(getBatchStatus, batch);
      console.log(
        `token endpoint ${status} once, Retry-After: 1 → the lookup answered ${answer.status} ${sinceLastRefusal()} ms after the refusal`,
      );
      expect(answer.status).toBe(200);
      // The refused request and the one @azure/identity's pipeline retried after Retry-After.
      expect(appTokenRequests()).toBe(2);
      expect(sims.entra.counters.injectedFailures).toBe(1);
    },
  );

  it.each([429, 503])(
    '%i with Retry-After: 1 for 6 s running: MSAL holds about a second, and lookups answer 200 once it ends',
    async (status) => {
      const getBatchStatus = await coldLookup();
      const batch = pendingBatch();
      const outageEndsAt = sims.entra.failFor({
        status,
        retryAfterSeconds: 1,
        clientId: sims.app.clientId,
        durationMs: 6_000,
      });

      const { recoveryMs, statuses } = await recoveryAfter(
        () => invokeLookup(getBatchStatus, batch),
        outageEndsAt,
      );
      const refused = sims.entra.counters.injectedFailures;
      console.log(
        `token endpoint ${status} for 6 s, Retry-After: 1 → lookups answer 200 ${recoveryMs} ms after the outage ended (${refused} token requests refused during it; lookups: ${statuses.join(' ')})`,
      );
      expect(statuses.at(-1)).toBe(200);
      expect(statuses.slice(0, -1).length, 'the outage reached callers as 502s').toBeGreaterThan(0);
      expect(statuses.slice(0, -1).every((s) => s === 502)).toBe(true);
      // One token request is the SDK's first try plus its 3 retries (4 refusals, about 3 s); a fifth
      // refusal means MSAL let a new token request through inside the outage, about a second after
      // the last one: a 60 s hold would have allowed none.
      expect(refused).toBeGreaterThanOrEqual(5);
      expect(appTokenRequests()).toBe(refused + 1);
    },
  );

  it('one 503 without Retry-After: the SDK retries on its own and the same lookup answers 200', async () => {
    const getBatchStatus = await coldLookup();
    const batch = pendingBatch();
    sims.entra.failNext({ status: 503, clientId: sims.app.clientId });

    const answer = await invokeLookup(getBatchStatus, batch);
    console.log(
      `token endpoint 503 once, no Retry-After → the lookup answered ${answer.status} ${sinceLastRefusal()} ms after the refusal`,
    );
    expect(answer.status).toBe(200);
    expect(appTokenRequests()).toBe(2);
  });

  it('503s without Retry-After that outlast the SDK’s retries: MSAL holds for its 60 s default (test clock)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const getBatchStatus = await coldLookup();
    const batch = pendingBatch();
    // The SDK's first try and its 3 retries, all refused; then Entra is well again.
    sims.entra.failNext({ status: 503, times: 4, clientId: sims.app.clientId });

    const first = await invokeLookup(getBatchStatus, batch);
    expect(first.status).toBe(502);
    expect((first.json as { type: string }).type).toBe('/problems/credential-unavailable');
    expect(appTokenRequests()).toBe(4);

    vi.setSystemTime(Date.now() + 30_000);
    expect((await invokeLookup(getBatchStatus, batch)).status).toBe(502);
    expect(appTokenRequests(), 'held: MSAL answers from its throttle entry, Entra is not asked').toBe(4);

    vi.setSystemTime(Date.now() + 31_000);
    expect((await invokeLookup(getBatchStatus, batch)).status).toBe(200);
    expect(appTokenRequests()).toBe(5);
  });
});

describe('the token endpoint failing while an instance is warm', () => {
  it('keeps serving on its still-valid cached token while refreshes are refused (test clock)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const getBatchStatus = await coldLookup();
    const batch = pendingBatch();
    expect((await invokeLookup(getBatchStatus, batch)).status).toBe(200);
    expect(appTokenRequests()).toBe(1);

    // 100 s before the token expires: inside the pipeline's refresh window (2 min) and MSAL's
    // renewal offset (5 min), so the next lookup asks for a new token, and Entra refuses it.
    sims.entra.failFor({ status: 503, clientId: sims.app.clientId, durationMs: 3_600_000 });
    vi.setSystemTime(Date.now() + (3599 - 100) * 1000);
    const during = [];
    for (let i = 0; i < 5; i++) during.push((await invokeLookup(getBatchStatus, batch)).status);
    expect(during).toEqual([200, 200, 200, 200, 200]);
    expect(sims.entra.counters.injectedFailures, 'the refresh was tried and refused').toBeGreaterThanOrEqual(
      1,
    );
    // The refresh goes on in the background (the SDK's first try and its 3 retries): let it end
    // here, or its last retry lands in whichever test runs next and counts there.
    await waitFor(() => sims.entra.counters.injectedFailures >= 4, {
      timeoutMs: 20_000,
      description: 'the background refresh to give up',
    });
  });
});
