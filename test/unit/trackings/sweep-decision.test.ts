import { describe, expect, it } from 'vitest';
import { PartnerCenterError } from '../../../shared/partner-center/errors.js';
import type { BatchUploadDetails } from '../../../shared/partner-center/model.js';
import {
  type CheckResult,
  type DecisionSettings,
  decide,
  trackingError,
} from '../../../shared/trackings/sweep-decision.js';
import type { Claim } from '../../../shared/trackings/tracking-records.js';

const MINUTE = 60_000;
const T0 = Date.parse('2025-03-01T08:00:00.000Z');
const SETTINGS: DecisionSettings = {
  initialBackoffMs: MINUTE,
  maxBackoffMs: 8 * MINUTE,
  maxTrackingAgeMs: 72 * 60 * MINUTE,
  notFoundGraceMs: 30 * MINUTE,
};
const key = {
  customerId: 'c0ffee00-0000-4000-a000-000000000001',
  trackingId: 'c0ffee00-0000-4000-a000-000000000002',
};

function claim(
  overrides: { checks?: number; registeredAgoMs?: number; firstNotFoundAt?: string } = {},
): Claim {
  return {
    key,
    record: {
      ...key,
      state: 'pending',
      registeredAt: new Date(T0 - (overrides.registeredAgoMs ?? 0)).toISOString(),
      nextCheckAt: new Date(T0 + 10 * MINUTE).toISOString(),
      checks: overrides.checks ?? 0,
    },
    etag: 'W/"1"',
    dueRowKeys: [],
    resumed: false,
    firstNotFoundAt: overrides.firstNotFoundAt,
  };
}

const at = (ms: number) => new Date(T0 + ms);
const answer = (status: string, checked = true): CheckResult => ({
  kind: 'answer',
  details: {
    batchTrackingId: key.trackingId,
    status,
    startedTime: '2025-03-01T07:59:00Z',
  } as BatchUploadDetails,
  checked,
});
const httpError = (statusCode: number) =>
  new PartnerCenterError(`Partner Center answered ${statusCode}`, {
    failure: 'http',
    statusCode,
    code: `E${statusCode}`,
    requestId: 'req-1',
  });
const notFound = (): CheckResult => ({ kind: 'failed', error: httpError(404) });

describe('decide', () => {
  it('finishes on a terminal answer, keeping whether Partner Center was asked', () => {
    expect(decide(claim(), answer('finished'), SETTINGS, at(0))).toMatchObject({
      kind: 'finished',
      checked: true,
    });
    expect(decide(claim(), answer('finished_with_errors', false), SETTINGS, at(0))).toMatchObject({
      kind: 'finished',
      checked: false,
    });
  });

  it('reschedules a non-terminal answer with exponential backoff, capped, jittered within [base/2, base]', () => {
    const wait = (checks: number, jitter: number) => {
      const verdict = decide(claim({ checks }), answer('processing'), SETTINGS, at(0), jitter);
      if (verdict.kind !== 'reschedule') throw new Error(`expected reschedule, got ${verdict.kind}`);
      expect(verdict.reason).toBe('not_terminal');
      return verdict.at.getTime() - T0;
    };
    expect(wait(0, 1)).toBe(MINUTE);
    expect(wait(0, 0)).toBe(MINUTE / 2);
    expect(wait(2, 1)).toBe(4 * MINUTE);
    expect(wait(3, 0.5)).toBe(6 * MINUTE);
    expect(wait(10, 1)).toBe(8 * MINUTE);
    expect(wait(40, 1)).toBe(8 * MINUTE);
  });

  it('records the upstream status of a non-terminal answer and clears the last error and 404 run', () => {
    const verdict = decide(
      claim({ firstNotFoundAt: at(-MINUTE).toISOString() }),
      answer('processing'),
      SETTINGS,
      at(0),
    );
    expect(verdict).toMatchObject({
      kind: 'reschedule',
      changes: {
        checked: true,
        upstreamStatus: 'processing',
        startedTime: '2025-03-01T07:59:00Z',
        lastError: null,
        firstNotFoundAt: null,
      },
    });
  });

  it('expires a tracking that is not done by its maximum age, whatever the answer', () => {
    const old = claim({ registeredAgoMs: SETTINGS.maxTrackingAgeMs });
    expect(decide(old, answer('processing'), SETTINGS, at(0))).toMatchObject({
      kind: 'giveUp',
      state: 'expired',
    });
    expect(decide(old, { kind: 'failed', error: httpError(500) }, SETTINGS, at(0))).toMatchObject({
      kind: 'giveUp',
      state: 'expired',
    });
    const young = claim({ registeredAgoMs: SETTINGS.maxTrackingAgeMs - 1 });
    expect(decide(young, answer('processing'), SETTINGS, at(0)).kind).toBe('reschedule');
  });

  it('waits out the 404 grace period from the first 404, then gives up as not_found', () => {
    const first = decide(claim(), notFound(), SETTINGS, at(0));
    expect(first).toMatchObject({
      kind: 'reschedule',
      reason: 'not_found_grace',
      changes: { checked: true, firstNotFoundAt: at(0).toISOString(), lastError: { status: 404 } },
    });
    const since = at(0).toISOString();
    const within = decide(
      claim({ firstNotFoundAt: since }),
      notFound(),
      SETTINGS,
      at(SETTINGS.notFoundGraceMs - 1),
    );
    expect(within).toMatchObject({
      kind: 'reschedule',
      reason: 'not_found_grace',
      changes: { firstNotFoundAt: since },
    });
    const beyond = decide(
      claim({ firstNotFoundAt: since }),
      notFound(),
      SETTINGS,
      at(SETTINGS.notFoundGraceMs),
    );
    expect(beyond).toMatchObject({ kind: 'giveUp', state: 'not_found', changes: { firstNotFoundAt: since } });
  });

  it('reschedules a failed check with backoff as an error, keeping the upstream facts', () => {
    expect(
      decide(claim({ checks: 1 }), { kind: 'failed', error: httpError(503) }, SETTINGS, at(0), 1),
    ).toEqual({
      kind: 'reschedule',
      at: at(2 * MINUTE),
      reason: 'error',
      changes: {
        checked: true,
        lastError: {
          at: at(0).toISOString(),
          message: 'Partner Center answered 503',
          status: 503,
          code: 'E503',
          failure: 'http',
          requestId: 'req-1',
        },
      },
    });
  });

  it('never keeps the text of an unexpected error', () => {
    const verdict = decide(claim(), { kind: 'failed', error: new Error('secret=abc') }, SETTINGS, at(0));
    expect(verdict).toMatchObject({ kind: 'reschedule', reason: 'error' });
    expect(JSON.stringify(verdict)).not.toContain('secret');
  });

  it('comes back at the end of a throttling pause, with the 429 as the last error', () => {
    const error = new PartnerCenterError('Too many requests', { failure: 'throttled', statusCode: 429 });
    const verdict = decide(
      claim(),
      { kind: 'throttled', error, answeredAt: at(-5000), until: at(30_000) },
      SETTINGS,
      at(0),
    );
    expect(verdict).toEqual({
      kind: 'reschedule',
      at: at(30_000),
      reason: 'throttled',
      changes: {
        checked: true,
        lastError: {
          at: at(-5000).toISOString(),
          message: 'Too many requests',
          status: 429,
          failure: 'throttled',
        },
      },
    });
  });

  it('a pause that outlasts the run reschedules without counting a check; never in the past', () => {
    expect(decide(claim(), { kind: 'paused', until: at(90_000) }, SETTINGS, at(0))).toEqual({
      kind: 'reschedule',
      at: at(90_000),
      reason: 'paused',
      changes: { checked: false },
    });
    expect(decide(claim(), { kind: 'paused', until: at(-1) }, SETTINGS, at(0))).toMatchObject({ at: at(0) });
  });

  it('releases the claim when the run is aborted', () => {
    expect(decide(claim(), { kind: 'aborted' }, SETTINGS, at(0))).toEqual({ kind: 'release' });
  });
});

describe('what a check keeps of an error, bounded', () => {
  it('keeps the upstream facts of a Partner Center error, each cut to its limit', () => {
    const error = new PartnerCenterError('m'.repeat(600), {
      failure: 'http',
      statusCode: 503,
      code: 'c'.repeat(150),
      requestId: 'r'.repeat(150),
    });
    expect(trackingError(error, at(0))).toEqual({
      at: at(0).toISOString(),
      message: 'm'.repeat(500),
      status: 503,
      code: 'c'.repeat(100),
      failure: 'http',
      requestId: 'r'.repeat(100),
    });
    // Strict: an absent fact is no key at all in the stored record, not a key holding undefined.
    expect(trackingError(new PartnerCenterError('down', { failure: 'network' }), at(0))).toStrictEqual({
      at: at(0).toISOString(),
      message: 'down',
      failure: 'network',
    });
  });

  it("keeps nothing of an unknown error's text", () => {
    expect(trackingError(new Error('secret=abc'), at(5))).toEqual({
      at: at(5).toISOString(),
      message: 'Unexpected error while checking the batch status',
      failure: 'internal',
    });
  });

  it('keeps at most 64 characters of an unknown upstream status', () => {
    const verdict = decide(claim(), answer('s'.repeat(80)), SETTINGS, at(0), 0.5);
    expect(verdict).toMatchObject({ kind: 'reschedule', changes: { upstreamStatus: 's'.repeat(64) } });
  });

  it('waits until a pause ends, and not into the past when the pause ended already', () => {
    expect(decide(claim(), { kind: 'paused', until: at(MINUTE) }, SETTINGS, at(0), 0.5)).toMatchObject({
      kind: 'reschedule',
      at: at(MINUTE),
    });
    expect(decide(claim(), { kind: 'paused', until: at(-MINUTE) }, SETTINGS, at(0), 0.5)).toMatchObject({
      kind: 'reschedule',
      at: at(0),
    });
  });
});
