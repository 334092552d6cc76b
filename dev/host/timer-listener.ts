import type { ClockTimer, HostClock } from './clock.js';
import type { NcrontabSchedule } from './ncrontab.js';

export interface TimerOccurrence {
  /** The occurrence that fired. */
  scheduledAt: Date;
  /** When the host actually fired it. */
  firedAt: Date;
  /** The occurrence after this one (already armed when `onFire` runs). */
  next: Date;
  /** Fired later than `pastDueToleranceMs` after its time (e.g. the machine slept). */
  isPastDue: boolean;
}

export interface TimerListenerOptions {
  schedule: NcrontabSchedule;
  clock: HostClock;
  onFire: (occurrence: TimerOccurrence) => void;
  pastDueToleranceMs?: number;
}

// setTimeout holds at most 2^31-1 ms (~24.8 days); longer waits are taken in steps.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Fires `onFire` at each occurrence of a schedule. The next occurrence is armed before
 * `onFire` runs, so a run that outlasts the interval meets the next trigger; whoever owns the
 * run decides what to do about it (the local host skips it and says so).
 */
export class TimerListener {
  readonly #schedule: NcrontabSchedule;
  readonly #clock: HostClock;
  readonly #onFire: (occurrence: TimerOccurrence) => void;
  readonly #pastDueToleranceMs: number;
  #timer: ClockTimer | undefined;
  #next: Date | undefined;
  #running = false;

  constructor(options: TimerListenerOptions) {
    this.#schedule = options.schedule;
    this.#clock = options.clock;
    this.#onFire = options.onFire;
    this.#pastDueToleranceMs = options.pastDueToleranceMs ?? 1_000;
  }

  /** The occurrence the listener waits for, if started. */
  get nextOccurrence(): Date | undefined {
    return this.#next;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm(this.#schedule.next(this.#clock.now()));
  }

  stop(): void {
    this.#running = false;
    this.#next = undefined;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(occurrence: Date): void {
    this.#next = occurrence;
    const delay = Math.max(0, occurrence.getTime() - this.#clock.now().getTime());
    this.#timer = this.#clock.setTimeout(() => this.#wake(occurrence), Math.min(delay, MAX_TIMEOUT_MS));
  }

  #wake(occurrence: Date): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = this.#clock.now();
    if (now.getTime() < occurrence.getTime()) {
      this.#arm(occurrence);
      return;
    }
    // Occurrences missed while the process was suspended collapse into this one.
    const next = this.#schedule.next(now.getTime() > occurrence.getTime() ? now : occurrence);
    this.#arm(next);
    this.#onFire({
      scheduledAt: occurrence,
      firedAt: now,
      next,
      isPastDue: now.getTime() - occurrence.getTime() > this.#pastDueToleranceMs,
    });
  }
}
