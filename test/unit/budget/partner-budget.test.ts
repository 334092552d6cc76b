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

  describe('calls waiting for their turn', () => {
    /** Once every promise callback queued so far (and those they queue) has run. */
    const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

    /** A clock whose timers fire only when the test says, each `lateMs` after it was due. */
    function manualTime(lateMs = 0, start = 1_000_000) {
      const time = { now: start, timers: 0 };
      const pending: { at: number; resolve: () => void }[] = [];
      return {
        time,
        now: () => time.now,
        sleep: (ms: number) =>
          new Promise<void>((resolve) => {
            time.timers++;
            pending.push({ at: time.now + ms + lateMs, resolve });
          }),
        /** Fires the next timer; false when none is set. */
        async fire(): Promise<boolean> {
          await settled();
          pending.sort((a, b) => a.at - b.at);
          const next = pending.shift();
          if (!next) return false;
          time.now = Math.max(time.now, next.at);
          next.resolve();
          return true;
        },
      };
    }

    /** Starts `n` calls at once; resolves with the order and the time each got its turn. */
    function waitAll(
      budget: PartnerBudget,
      clock: ReturnType<typeof manualTime>,
      n: number,
      deadlineMs = Number.POSITIVE_INFINITY,
    ) {
      const turns: { call: number; at: number; turn: boolean }[] = [];
      const calls = Array.from({ length: n }, (_, call) =>
        budget.nextTurn(deadlineMs).then((turn) => turns.push({ call, at: clock.time.now, turn })),
      );
      return { turns, done: Promise.all(calls) };
    }

    async function drain(clock: ReturnType<typeof manualTime>): Promise<void> {
      while (await clock.fire()) {}
    }

    it('take their turns first come first served, woken by one timer per turn', async () => {
      const clock = manualTime();
      const budget = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });

      const { turns, done } = waitAll(budget, clock, 48);
      await drain(clock);
      await done;

      expect(turns.map((t) => t.call)).toEqual(Array.from({ length: 48 }, (_, i) => i));
      expect(turns.map((t) => t.at - 1_000_000)).toEqual(Array.from({ length: 48 }, (_, i) => i * 100));
      // One timer for each of the 47 that waited: not one for every waiting call at every turn.
      expect(clock.time.timers).toBe(47);
    });

    it.each([1, 6])(
      'go together when a timer %i ms late let more than one slot of the pace pass, and never ahead of it',
      async (lateMs) => {
        const clock = manualTime(lateMs);
        const budget = new PartnerBudget({
          maxCallsPerMinute: 100_000,
          initialCallsPerMinute: 100_000, // a turn every 0.6 ms
          ...clock,
        });

        const { turns, done } = waitAll(budget, clock, 50);
        await drain(clock);
        await done;

        const elapsed = clock.time.now - 1_000_000;
        // 49 intervals of 0.6 ms after the first: 29.4 ms, one late timer at most on top…
        expect(elapsed).toBeLessThanOrEqual(29.4 + lateMs);
        expect(clock.time.timers).toBeLessThanOrEqual(Math.ceil(29.4 / lateMs));
        // …and no call ahead of its slot by more than the slack for late timers (10 ms).
        for (const [i, t] of turns.entries()) expect(t.at - 1_000_000).toBeGreaterThanOrEqual(i * 0.6 - 10);
      },
    );

    it('that a new pause leaves past their deadline give up at its start; an aborted one at once', async () => {
      const clock = manualTime();
      const budget = new PartnerBudget({ maxCallsPerMinute: 600, initialCallsPerMinute: 600, ...clock });
      const { turns, done } = waitAll(budget, clock, 3, 1_010_000);
      const aborted = new AbortController();
      const abortedTurn = budget.nextTurn(Number.POSITIVE_INFINITY, aborted.signal);
      const patient = budget.nextTurn(Number.POSITIVE_INFINITY);

      await settled();
      aborted.abort();
      expect(await abortedTurn).toBe(false);
      budget.throttled(30_000, 'caller');
      await drain(clock);
      await done;

      expect(turns).toEqual([
        { call: 0, at: 1_000_000, turn: true },
        { call: 1, at: 1_000_100, turn: false },
        { call: 2, at: 1_000_100, turn: false },
      ]);
      expect(await patient).toBe(true);
      expect(clock.time.now).toBe(1_030_000);
    });
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
