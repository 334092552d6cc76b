import { setTimeout as delay } from 'node:timers/promises';

/**
 * What every instance knows about Partner Center's partner-wide budget, as kept in tracking storage:
 * until when Partner Center asked everyone to wait, when that 429 came, and the sweep rate the
 * instance that saw it went down to.
 */
export interface SharedThrottle {
  /** Epoch ms: no sweep call before this. */
  throttledUntil: number;
  /** Epoch ms of the 429 that set it; tells a reader that a new throttling event happened. */
  throttledAt: number;
  /** The sweep rate (calls per minute) the instance that saw the 429 cut itself to. */
  ratePerMinute: number;
}

/** Where instances share what they learned (a table entity in tracking storage). */
export interface SharedThrottleStore {
  read(): Promise<SharedThrottle | undefined>;
  write(state: SharedThrottle): Promise<void>;
}

export interface PartnerBudgetOptions {
  /** The sweep's ceiling, calls per minute (SWEEP_MAX_CALLS_PER_MINUTE). */
  maxCallsPerMinute: number;
  /** Where the sweep starts; default a quarter of the ceiling. */
  initialCallsPerMinute?: number;
  /** The rate is never cut below this; default 6 a minute (or the ceiling, if lower). */
  minCallsPerMinute?: number;
  /** Shared with the other instances; without it the budget is this process's alone. */
  shared?: SharedThrottleStore;
  /** How long what storage said is trusted before the sweep reads it again. Default 2 s. */
  syncIntervalMs?: number;
  /** How long the lookup path trusts its copy (refreshed in the background). Default 5 s. */
  lookupCacheMs?: number;
  /** Used when a 429 has no Retry-After. Default 30 s. */
  defaultPauseMs?: number;
  now?: () => number;
  sleep?: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  onSharedFailure?: (error: unknown) => void;
}

/** Who met a 429: a caller's lookup weighs more, because callers come first. */
export type CallPriority = 'caller' | 'sweep';

/** Cut on a 429 when there is too little to learn from (and at most, otherwise). */
const SWEEP_DECREASE = 0.7;
/** The cut when the pace had just outgrown the budget. */
const PROBE_DECREASE = 0.85;
/** A caller meeting a 429 takes this much more of the sweep's share. */
const CALLER_DECREASE = 0.8;
/** Before the first 429 the pace grows by this fraction per success (finding the budget fast)… */
const PROBE_GROWTH = 0.05;
/** …after it, by this share of the ceiling every 10 s of calls (additive increase). */
const ADDITIVE_SHARE_PER_10S = 0.05;
/** The learned rate is kept a little below what the partner's budget allowed. */
const LEARNED_MARGIN = 0.95;
/** Fewer successes than this since the last pause say too little about the budget. */
const MIN_SAMPLE = 10;
/**
 * How far behind its pace the sweep may catch up: timers fire late, by whole milliseconds at best
 * and by an event-loop turn in a busy process. Without it a pace of more calls than the process has
 * timer turns (one call per wake-up) is out of reach; with it, the calls whose slots passed while
 * the timer was late go together, never more than this much ahead of the pace.
 */
const TIMER_SLACK_MS = 10;

/** A sweep call waiting for its turn. */
interface Waiter {
  deadlineMs: number;
  abortSignal?: AbortSignal;
  onAbort?: () => void;
  resolve: (turn: boolean) => void;
}

/**
 * Partner Center's budget as this instance sees it: an adaptive pace for the sweep (AIMD: it grows
 * while answers are 2xx, is cut sharply by a 429, harder when a caller met it, and waits out
 * Retry-After) that callers never wait for. The sweep takes one call at a time at its pace — never a
 * burst (a late timer lets through at most the turns of the last 10 ms) — so the burst budget stays
 * with callers. Waiting calls queue for their turns. A 429 that any instance meets is written to shared
 * storage; sweeps read it before they claim work, lookups keep a copy a few seconds old.
 *
 * Why not a library: the maintained limiters on npm (p-throttle, limiter, rate-limiter-flexible)
 * enforce a fixed rate or quota; none adapts its rate to the answers or pauses until a given time,
 * and wrapping one to change its rate per call would be longer than this.
 */
export class PartnerBudget {
  private readonly ceiling: number;
  private readonly floor: number;
  private readonly syncIntervalMs: number;
  private readonly lookupCacheMs: number;
  private readonly defaultPauseMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, abortSignal?: AbortSignal) => Promise<void>;
  private rate: number;
  private probing = true;
  private throttledUntil = 0;
  /** The newest 429 (local or shared) whose cut was applied, and whether a caller's 429 cut it. */
  private lastEventAt = 0;
  private eventCutForCaller = false;
  /** Since the sweep last resumed: when, and how many of its calls succeeded. */
  private periodStart: number | undefined;
  private periodSuccesses = 0;
  private nextSlotAt = 0;
  /** Sweep calls waiting for a turn, first come first served, woken by one timer. */
  private readonly waiters: Waiter[] = [];
  private dispatching: Promise<void> | undefined;
  private wakeDispatcher: AbortController | undefined;
  private syncedAt = Number.NEGATIVE_INFINITY;
  private syncing: Promise<void> | undefined;
  private writing: Promise<void> | undefined;
  private pendingWrite: SharedThrottle | undefined;

  constructor(private readonly options: PartnerBudgetOptions) {
    this.ceiling = Math.max(1, options.maxCallsPerMinute);
    this.floor = Math.min(this.ceiling, options.minCallsPerMinute ?? 6);
    this.rate = clamp(options.initialCallsPerMinute ?? this.ceiling / 4, this.floor, this.ceiling);
    this.syncIntervalMs = options.syncIntervalMs ?? 2_000;
    this.lookupCacheMs = options.lookupCacheMs ?? 5_000;
    this.defaultPauseMs = options.defaultPauseMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleepUnlessAborted;
  }

  /** The sweep's current pace, calls per minute. */
  get callsPerMinute(): number {
    return this.rate;
  }

  /** Epoch ms until which this instance holds back its sweep (0 when never throttled). */
  get pausedUntil(): number {
    return this.throttledUntil;
  }

  /**
   * Waits for the sweep's next call: after any Retry-After that this or another instance received,
   * and one interval of the current pace after the previous call. False (at once) when that turn
   * would come after `deadlineMs`, or when aborted: the sweep then stops claiming work. Calls wait
   * in line, and one timer wakes them as their turns come: not every waiting call at every turn.
   */
  async nextTurn(deadlineMs: number, abortSignal?: AbortSignal): Promise<boolean> {
    if (abortSignal?.aborted) return false;
    await this.sync(this.syncIntervalMs);
    if (this.turnAfter(deadlineMs)) return false;
    if (this.waiters.length === 0 && this.takeTurn() === 0) return true;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = { deadlineMs, abortSignal, resolve };
      if (abortSignal) {
        waiter.onAbort = () => this.release(waiter, false);
        abortSignal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.dispatching ??= this.dispatch();
    });
  }

  /** Whether the next turn comes too late for `deadlineMs`. */
  private turnAfter(deadlineMs: number): boolean {
    return Math.max(this.now(), this.throttledUntil, this.nextSlotAt) >= deadlineMs;
  }

  /** Gives the waiting calls their turns, in order, until none waits. */
  private async dispatch(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        await this.sync(this.syncIntervalMs);
        for (const waiter of [...this.waiters]) {
          if (this.turnAfter(waiter.deadlineMs)) this.release(waiter, false);
        }
        let waitMs = 0;
        for (let first = this.waiters[0]; first; first = this.waiters[0]) {
          waitMs = this.takeTurn();
          if (waitMs > 0) break;
          this.release(first, true);
        }
        if (this.waiters.length === 0) break;
        // Wake up now and then: another instance may have been throttled meanwhile.
        this.wakeDispatcher = new AbortController();
        await this.sleep(Math.min(waitMs, this.syncIntervalMs), this.wakeDispatcher.signal);
      }
    } finally {
      this.wakeDispatcher = undefined;
      this.dispatching = undefined;
    }
  }

  private release(waiter: Waiter, turn: boolean): void {
    const at = this.waiters.indexOf(waiter);
    if (at < 0) return;
    this.waiters.splice(at, 1);
    if (waiter.onAbort) waiter.abortSignal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(turn);
    // The last waiter gave up: the dispatcher need not sleep on.
    if (this.waiters.length === 0) this.wakeDispatcher?.abort();
  }

  /**
   * Before the sweep claims work: waits out any Retry-After this or another instance received
   * (read from shared storage first). False when it outlasts `deadlineMs` or on abort.
   */
  async whenClear(deadlineMs: number, abortSignal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (abortSignal?.aborted) return false;
      await this.sync(this.syncIntervalMs);
      const now = this.now();
      if (this.throttledUntil <= now) return true;
      if (this.throttledUntil >= deadlineMs) return false;
      await this.sleep(Math.min(this.throttledUntil - now, this.syncIntervalMs), abortSignal);
    }
  }

  /** Takes the sweep's next call when it is due now (0), or says how many ms until it is. */
  takeTurn(): number {
    const now = this.now();
    const turn = Math.max(now, this.throttledUntil, this.nextSlotAt);
    if (turn > now) return turn - now;
    // The first turn since starting or since a pause sets the pace off; later ones keep to it.
    const slot = this.periodStart === undefined ? now : Math.max(this.nextSlotAt, now - TIMER_SLACK_MS);
    this.nextSlotAt = slot + 60_000 / this.rate;
    this.periodStart ??= now;
    return 0;
  }

  /** A 2xx answer to one of the sweep's calls: the pace grows. */
  sweepSucceeded(): void {
    this.periodSuccesses++;
    const step = this.probing
      ? this.rate * PROBE_GROWTH
      : (this.ceiling * ADDITIVE_SHARE_PER_10S * (60_000 / this.rate)) / 10_000;
    this.rate = clamp(this.rate + step, this.floor, this.ceiling);
  }

  /**
   * Partner Center answered 429 (any attempt, any caller): wait out Retry-After, cut the pace once
   * per throttling event (several calls in flight meet the same one), tell the other instances.
   */
  throttled(retryAfterMs: number | undefined, priority: CallPriority): void {
    const now = this.now();
    const until = now + (retryAfterMs ?? this.defaultPauseMs);
    const newEvent = now >= this.throttledUntil;
    this.throttledUntil = Math.max(this.throttledUntil, until);
    if (newEvent) {
      this.learn();
      this.lastEventAt = now;
      this.eventCutForCaller = false;
    }
    if (priority === 'caller' && !this.eventCutForCaller) {
      this.cut(CALLER_DECREASE);
      this.eventCutForCaller = true;
    }
    this.share({
      throttledUntil: this.throttledUntil,
      throttledAt: this.lastEventAt,
      ratePerMinute: this.rate,
    });
  }

  /**
   * For the lookup path: whether Partner Center is known to be throttling the partner now. Never
   * waits for storage: at most every few seconds it starts a background read.
   */
  isThrottled(): boolean {
    void this.sync(this.lookupCacheMs);
    return this.throttledUntil > this.now();
  }

  /** Reads the shared state when the copy is older than `maxAgeMs`; failures leave local knowledge. */
  async sync(maxAgeMs = 0): Promise<void> {
    const shared = this.options.shared;
    if (!shared || this.now() - this.syncedAt < maxAgeMs) return;
    this.syncing ??= (async () => {
      try {
        const state = await shared.read();
        if (state) this.adopt(state);
      } catch (error) {
        this.options.onSharedFailure?.(error);
      } finally {
        this.syncedAt = this.now();
        this.syncing = undefined;
      }
    })();
    await this.syncing;
  }

  private adopt(state: SharedThrottle): void {
    this.throttledUntil = Math.max(this.throttledUntil, state.throttledUntil);
    if (state.throttledAt > this.lastEventAt) {
      // Another instance was throttled: the partner's budget is shared, so this one backs off too.
      this.lastEventAt = state.throttledAt;
      this.learn();
    }
  }

  /**
   * A new throttling event. While still probing (the pace growing fast from its start), the 429
   * marks a pace just above the budget: a mild cut. Later, what this instance's sweep got through
   * since it last resumed, spread over the time until Partner Center lets it go on, is what the
   * partner's budget allowed it (for a fixed window, Retry-After is the rest of the window): the
   * pace becomes a little less than that, and never more than a cut of the current one.
   */
  private learn(): void {
    const start = this.periodStart;
    const span = start === undefined ? 0 : this.throttledUntil - start;
    const allowed = span > 0 ? (this.periodSuccesses * 60_000) / span : 0;
    const next = this.probing
      ? this.rate * PROBE_DECREASE
      : this.periodSuccesses >= MIN_SAMPLE
        ? Math.min(this.rate * PROBE_DECREASE, allowed * LEARNED_MARGIN)
        : this.rate * SWEEP_DECREASE;
    this.rate = clamp(next, this.floor, this.ceiling);
    this.probing = false;
    this.periodStart = undefined;
    this.periodSuccesses = 0;
  }

  private cut(factor: number): void {
    this.probing = false;
    this.rate = clamp(this.rate * factor, this.floor, this.ceiling);
  }

  /** One write at a time; a newer state replaces one still waiting. */
  private share(state: SharedThrottle): void {
    const shared = this.options.shared;
    if (!shared) return;
    this.pendingWrite = state;
    this.writing ??= (async () => {
      while (this.pendingWrite) {
        const next = this.pendingWrite;
        this.pendingWrite = undefined;
        try {
          await shared.write(next);
        } catch (error) {
          this.options.onSharedFailure?.(error);
        }
      }
      this.writing = undefined;
    })();
  }

  /** Resolves when writes to shared storage so far are done (tests, shutdown). */
  async flush(): Promise<void> {
    await this.writing;
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

async function sleepUnlessAborted(ms: number, abortSignal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, abortSignal ? { signal: abortSignal } : undefined);
  } catch {
    // Aborted: the caller checks the signal.
  }
}
