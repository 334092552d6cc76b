import { describe, expect, it } from 'vitest';
import { partnerCenterClientFixture } from './client-fixture.js';

// The answers client.test.ts leaves out, each pinned to its exact message: a 429 without
// Retry-After, an error answer without a body, a dropped connection, the overall deadline, a 200
// with many wrong fields, and the correlation id Partner Center answers with.

const fixture = partnerCenterClientFixture();
const { calls, client, failure } = fixture;
const newBatch = () => fixture.newBatch(1);
const partnerCenter = () => fixture.sims().partnerCenter;

describe('PartnerCenterClient, the answers without details', () => {
  it('says "throttling" without a wait when a 429 names none', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'status', status: 429 }, { times: 1 });
    const throttled = await failure(
      client({ maxRetryAfterMs: 0 }).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(throttled.message).toBe('Partner Center is throttling requests');
    expect(throttled).toMatchObject({ failure: 'throttled', statusCode: 429, retryAfterMs: undefined });
  });

  it('names only the status of an error answer without a code or a description', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'status', status: 500, code: '', description: '' }, { times: 1 });
    const answered = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(answered.message).toBe('Partner Center answered 500');
    expect(answered).toMatchObject({ failure: 'http', statusCode: 500 });
    expect(calls.map((c) => [c.status, c.failure])).toEqual([[500, 'http']]);
  });

  it('calls a dropped connection unreachable, with the network code', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'reset' }, { times: 1 });
    const dropped = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(dropped.failure).toBe('network');
    expect(dropped.message).toMatch(/^Partner Center could not be reached: ECONNRESET: \S/);
    expect(calls.map((c) => [c.status, c.failure])).toEqual([[undefined, 'network']]);
  });

  it('names the overall deadline when it ends the call', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'latency', ms: 5_000 }, { times: 1 });
    const late = await failure(
      client({ attemptTimeoutMs: 4_000, deadlineMs: 200 }).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(late.message).toBe('Partner Center did not answer within 200 ms');
    expect(late.failure).toBe('timeout');
  });

  it('lists the first three problems of a 200 with many wrong fields, by their paths', async () => {
    // Four wrong fields; the fourth (devicesStatus.0.serialNumber) is left out.
    const batch = newBatch();
    partnerCenter().inject(
      {
        kind: 'unexpected-shape',
        body: { batchTrackingId: 7, status: 42, startedTime: 5, devicesStatus: [{ serialNumber: 1 }] },
      },
      { times: 1 },
    );
    const shape = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    const problems = shape.message.replace(/^Partner Center answered 200 with an unexpected shape: /, '');
    expect(problems).toBe(
      [
        'batchTrackingId Invalid input: expected string, received number',
        'status Invalid input: expected string, received number',
        'startedTime Invalid input: expected string, received number',
      ].join('; '),
    );

    partnerCenter().inject(
      {
        kind: 'unexpected-shape',
        body: { batchTrackingId: 'x', status: 'finished', devicesStatus: [{ serialNumber: 1 }] },
      },
      { times: 1 },
    );
    const nested = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(nested.message).toBe(
      'Partner Center answered 200 with an unexpected shape: devicesStatus.0.serialNumber Invalid input: expected string, received number',
    );
  });

  it('keeps the correlation id Partner Center answers with', async () => {
    const batch = newBatch();
    const correlationId = crypto.randomUUID();
    const answer = await client().getBatchStatus(batch.customerId, batch.trackingId, { correlationId });
    expect(answer.correlationId).toBe(correlationId);
    expect(calls.map((c) => c.correlationId)).toEqual([correlationId]);
  });
});
