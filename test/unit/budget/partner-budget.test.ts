import { describe, expect, it } from 'vitest';
import { PartnerThrottle, type ThrottlingPolicy } from '../../../dev/simulators/partner-throttle.js';
import {
  PartnerBudget,
  type SharedThrottle,
  type SharedThrottleStore,
} from '../../../shared/budget/partner-budget.js';

/** A clock that only moves when someone sleeps. */
function virtualTime(start = 1_000_000) {
  const time = { now: start };
  return {
    time,
    now: () => time.now,
    sleep: async (ms: number) => {
      time.now += ms;
    },
  };
}

function memoryStore(): SharedThrottleStore & { state?: SharedThrottle; writes: number } {
  const store = {
    state: undefined as SharedThrottle | undefined,
    writes: 0,
    read: async () => store.state,
    write: async (state: SharedThrottle) => {
      store.writes++;
      store.state = state;
    },
  };
  return store;
}

describe('PartnerBudget', () => {
  it('paces the sweep one call at a time and never above its ceiling', async () => {
    const clock = virtualTime();
    const budget = new PartnerBudget({ maxCallsPerMinute: 120, ...clock });
    const turns: number[] = [];
    for (let i = 0; i < 200; i++) {
      expect(await budget.nextTurn(Number.POSITIVE_INFINITY)).toBe(true);
      turns.push(clock.time.now);
      budget.sweepSucceeded();
    }
    const gaps = turns.slice(1).map((t, i) => t - (turns[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500); // 120 a minute
    expect(budget.callsPerMinute).toBe(120);
    // It grew there from a quarter of the ceiling: the first gap was 2 s.
    expect(gaps[0]).toBe(2000);
  });

  it('waits out Retry-After and cuts its pace sharply on a 429', async () => {
    const clock = virtualTime();
    const budget = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });
    await budget.nextTurn(Number.POSITIVE_INFINITY);
    const before = clock.time.now;

    budget.throttled(7_000, 'sweep');

    expect(budget.callsPerMinute).toBeCloseTo(510);
    expect(await budget.nextTurn(Number.POSITIVE_INFINITY)).toBe(true);
    expect(clock.time.now).toBe(before + 7_000);
  });

  it('cuts harder when a caller met the 429, and once per throttling event', () => {
    const clock = virtualTime();
    const sweepOnly = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });
    const withCaller = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });

    sweepOnly.throttled(5_000, 'sweep');
    sweepOnly.throttled(5_000, 'sweep'); // another call in flight met the same 429
    withCaller.throttled(5_000, 'sweep');
    withCaller.throttled(5_000, 'caller');

    expect(sweepOnly.callsPerMinute).toBeCloseTo(510);
    expect(withCaller.callsPerMinute).toBeCloseTo(408);
  });

  it("learns the partner's budget: what got through since resuming, over the time until Retry-After ends", async () => {
    const clock = virtualTime();
    const budget = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });
    budget.throttled(0, 'sweep'); // ends the fast probing
    const start = clock.time.now;
    for (let i = 0; i < 60; i++) {
      await budget.nextTurn(Number.POSITIVE_INFINITY);
      budget.sweepSucceeded();
    }
    const elapsed = clock.time.now - start;

    budget.throttled(20_000 - elapsed, 'sweep'); // a 20 s window, spent

    // 60 calls in 20 s: 180 a minute, less a 5% margin.
    expect(budget.callsPerMinute).toBeCloseTo(171, 0);
  });

  it('gives up at once when the pause outlasts the deadline, and when aborted', async () => {
    const clock = virtualTime();
    const budget = new PartnerBudget({ maxCallsPerMinute: 600, ...clock });
    budget.throttled(30_000, 'caller');

    expect(await budget.nextTurn(clock.time.now + 10_000)).toBe(false);
    expect(clock.time.now).toBe(1_000_000);
    expect(await budget.nextTurn(Number.POSITIVE_INFINITY, AbortSignal.abort())).toBe(false);
  });

  it('a 429 one instance met pauses the sweep of another that shares the store', async () => {
    const clock = virtualTime();
    const store = memoryStore();
    const first = new PartnerBudget({ maxCallsPerMinute: 600, shared: store, ...clock });
    const second = new PartnerBudget({ maxCallsPerMinute: 600, shared: store, ...clock });
    const rateBefore = second.callsPerMinute;

    first.throttled(20_000, 'caller');
    await first.flush();

    expect(store.state).toMatchObject({ throttledUntil: 1_020_000, throttledAt: 1_000_000 });
    expect(await second.nextTurn(1_015_000)).toBe(false);
    expect(await second.nextTurn(Number.POSITIVE_INFINITY)).toBe(true);
    expect(clock.time.now).toBe(1_020_000);
    expect(second.callsPerMinute).toBeLessThan(rateBefore);
    // Reading its own write back is no new event: no second cut.
    const rate = first.callsPerMinute;
    await first.sync();
    expect(first.callsPerMinute).toBe(rate);
  });

  it('lets lookups ask without a storage read each time', async () => {
    const clock = virtualTime();
    const store = memoryStore();
    let reads = 0;
    const counted = {
      ...store,
      read: async () => {
        reads++;
        return store.state;
      },
    };
    const budget = new PartnerBudget({
      maxCallsPerMinute: 600,
      shared: counted,
      lookupCacheMs: 5_000,
      ...clock,
    });

    for (let i = 0; i < 100; i++) expect(budget.isThrottled()).toBe(false);
    await budget.sync(5_000);
    expect(reads).toBe(1);
    store.state = { throttledUntil: clock.time.now + 60_000, throttledAt: clock.time.now, ratePerMinute: 10 };
    clock.time.now += 5_000;
    budget.isThrottled();
    await budget.sync(5_000);
    expect(budget.isThrottled()).toBe(true);
    expect(reads).toBe(2);
  });

  describe('against partner-wide throttling, with a caller once a second', () => {
    /**
     * The sweep takes its turns from the budget; a caller looks up once a second and waits out a
     * Retry-After of up to 10 s (the client's default), as the app's lookups do. Virtual time.
     */
    function run(policy: ThrottlingPolicy, trackings: number, instances: number) {
      let now = 0;
      const partner = new PartnerThrottle(policy, () => now);
      const store = memoryStore();
      const budgets = Array.from(
        { length: instances },
        () => new PartnerBudget({ maxCallsPerMinute: 600, shared: store, now: () => now }),
      );
      let done = 0;
      let calls = 0;
      let throttled = 0;
      let callerLookups = 0;
      let callerAnswered = 0;
      const waiting: number[] = [];
      for (; done < trackings && now < 600_000; now += 10) {
        if (now % 1000 === 0) {
          callerLookups++;
          waiting.push(now);
        }
        for (let i = waiting.length - 1; i >= 0; i--) {
          if ((waiting[i] as number) > now) continue;
          calls++;
          const retryAfter = partner.take();
          if (retryAfter === undefined) {
            callerAnswered++;
            waiting.splice(i, 1);
          } else {
            throttled++;
            (budgets[0] as PartnerBudget).throttled(retryAfter * 1000, 'caller');
            if (retryAfter > 10) waiting.splice(i, 1);
            else waiting[i] = now + retryAfter * 1000;
          }
        }
        for (const budget of budgets) {
          void budget.sync(2_000);
          if (done >= trackings || budget.takeTurn() !== 0) continue;
          calls++;
          const retryAfter = partner.take();
          if (retryAfter === undefined) {
            done++;
            budget.sweepSucceeded();
          } else {
            throttled++;
            budget.throttled(retryAfter * 1000, 'sweep');
          }
        }
      }
      return {
        seconds: now / 1000,
        throttledShare: throttled / calls,
        callerShare: callerAnswered / callerLookups,
      };
    }

    it.each([
      ['a 200-per-20-s window', { kind: 'window', limit: 200, windowSeconds: 20 }, 1],
      ['a 200-per-20-s window, two instances', { kind: 'window', limit: 200, windowSeconds: 20 }, 2],
      ['a 10/s token bucket', { kind: 'bucket', ratePerSecond: 10, burst: 50 }, 1],
      ['a 10/s token bucket, two instances', { kind: 'bucket', ratePerSecond: 10, burst: 50 }, 2],
    ] as const)(
      '%s: within 1.5 times N/rate, at most 5 percent 429s, every caller answered',
      (_, policy, instances) => {
        const result = run(policy, 1000, instances);
        expect(result.seconds).toBeLessThanOrEqual(1.5 * 100);
        expect(result.throttledShare).toBeLessThanOrEqual(0.05);
        expect(result.callerShare).toBe(1);
      },
    );
  });
});
