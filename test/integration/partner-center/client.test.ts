import { describe, expect, it } from 'vitest';
import { PartnerCenterError } from '../../../shared/partner-center/errors.js';
import { partnerCenterClientFixture } from './client-fixture.js';

// PartnerCenterClient on its own against the Partner Center simulator: what each upstream answer
// becomes (the error's failure kind, message and diagnostics), what every call reports, and the
// arguments it refuses before any request. The handler-level view of the same answers is in
// test/integration/lookup/get-batch-status.test.ts.

const fixture = partnerCenterClientFixture();
const { calls, throttles, client, failure, newBatch } = fixture;
const partnerCenter = () => fixture.sims().partnerCenter;

describe('PartnerCenterClient.getBatchStatus', () => {
  it('refuses ids that are not GUIDs before any request', async () => {
    const batch = newBatch();
    const before = partnerCenter().counters.total;
    for (const [customerId, trackingId] of [
      ['not-a-guid', batch.trackingId],
      [batch.customerId, 'not-a-guid'],
    ] as const) {
      await expect(client().getBatchStatus(customerId, trackingId)).rejects.toThrow(
        new TypeError('customerId and trackingId must be GUIDs'),
      );
    }
    expect(partnerCenter().counters.total).toBe(before);
  });

  it('joins an endpoint given with trailing slashes, and reports the call with its ids and status', async () => {
    const batch = newBatch();
    const correlationId = crypto.randomUUID();
    const started = performance.now();
    const answer = await client({}, { url: `${partnerCenter().url}//` }).getBatchStatus(
      batch.customerId,
      batch.trackingId,
      {
        correlationId,
      },
    );
    const elapsed = performance.now() - started;

    const sent = partnerCenter().requests.at(-1)!;
    expect(sent.path).toBe(`/v1/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`);
    expect(answer.details.batchTrackingId).toBe(batch.trackingId);
    expect(answer.correlationId).toBe(correlationId);
    expect(answer.requestId).toBe(sent.headers['ms-requestid']);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call).toMatchObject({ status: 200, correlationId, requestId: sent.headers['ms-requestid'] });
    expect(call!.failure).toBeUndefined();
    // The call's own duration: no more than the time around it.
    expect(call!.durationMs).toBeGreaterThan(0);
    expect(call!.durationMs).toBeLessThanOrEqual(elapsed);
  });

  it('says what was wrong with a 200 that is not JSON, or not a BatchUploadDetails', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'malformed' }, { times: 1 });
    const malformed = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(malformed).toMatchObject({ failure: 'invalid_response', statusCode: 200 });
    expect(malformed.message).toBe('Partner Center answered 200 with a body that is not JSON');
    expect(malformed.requestId).toBeTruthy();

    partnerCenter().inject({ kind: 'unexpected-shape', body: { status: 42, extra: true } }, { times: 1 });
    const shape = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(shape).toMatchObject({ failure: 'invalid_response', statusCode: 200 });
    expect(shape.message).toMatch(/^Partner Center answered 200 with an unexpected shape: /);
    // Field paths named, at most three issues.
    expect(shape.message).toContain('status ');
    expect(shape.message.split('; ').length).toBeLessThanOrEqual(3);

    partnerCenter().inject({ kind: 'unexpected-shape', body: [] }, { times: 1 });
    const array = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(array.message).toMatch(/unexpected shape: body /);
    expect(calls.map((c) => c.failure)).toEqual(['invalid_response', 'invalid_response', 'invalid_response']);
  });

  it('tells a throttled call from an error answer, with Retry-After in seconds and the upstream code', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'throttle', retryAfterSeconds: 7 }, { times: 1 });
    const throttled = await failure(
      client({ maxRetryAfterMs: 0 }).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(throttled).toMatchObject({ failure: 'throttled', statusCode: 429, retryAfterMs: 7000 });
    expect(throttled.message).toBe('Partner Center is throttling requests; retry after 7 s');
    expect(throttles).toEqual([{ retryAfterMs: 7000, priority: 'caller' }]);

    partnerCenter().inject(
      { kind: 'status', status: 400, code: '600039', description: 'Bad tracking id' },
      { times: 1 },
    );
    const rejected = await failure(client().getBatchStatus(batch.customerId, batch.trackingId));
    expect(rejected).toMatchObject({
      failure: 'http',
      statusCode: 400,
      code: '600039',
      description: 'Bad tracking id',
    });
    expect(rejected.message).toBe('Partner Center answered 400 (600039): Bad tracking id');
    expect(calls.map((c) => [c.status, c.failure])).toEqual([
      [429, 'throttled'],
      [400, 'http'],
    ]);
  });

  it("passes a sweep's priority to the throttle observer", async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'throttle', retryAfterSeconds: 3 }, { times: 1 });
    await failure(
      client({ maxRetryAfterMs: 0 }).getBatchStatus(batch.customerId, batch.trackingId, {
        priority: 'sweep',
      }),
    );
    expect(throttles).toEqual([{ retryAfterMs: 3000, priority: 'sweep' }]);
  });

  it('names a too-slow answer a timeout, with both limits in the message', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'latency', ms: 5_000 }, { times: 1 });
    const slow = await failure(
      client({ attemptTimeoutMs: 100, deadlineMs: 4_000 }).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(slow.failure).toBe('timeout');
    expect(slow.message).toBe(
      'Partner Center did not answer in time (each attempt waits 100 ms, all within 4000 ms)',
    );
    expect(calls.map((c) => c.failure)).toEqual(['timeout']);
  });

  it('refuses a response larger than its limit as an invalid response', async () => {
    const batch = newBatch();
    partnerCenter().inject({ kind: 'huge', bytes: 64 * 1024, chunked: true }, { times: 1 });
    const huge = await failure(
      client({ maxResponseBytes: 8 * 1024 }).getBatchStatus(batch.customerId, batch.trackingId),
    );
    expect(huge).toMatchObject({ failure: 'invalid_response', statusCode: 200 });
    expect(huge.message).toBe("Partner Center's response exceeded 8192 bytes");
  });

  it("hands back the caller's own abort unchanged and reports the call as aborted", async () => {
    const batch = newBatch();
    const controller = new AbortController();
    controller.abort();
    const error = await client()
      .getBatchStatus(batch.customerId, batch.trackingId, { abortSignal: controller.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).not.toBeInstanceOf(PartnerCenterError);
    expect((error as Error).name).toBe('AbortError');
    expect(calls.map((c) => c.failure)).toEqual(['aborted']);
  });
});
