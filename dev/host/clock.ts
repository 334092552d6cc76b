/** Opaque handle returned by {@link HostClock.setTimeout}. */
export type ClockTimer = unknown;

/** Time as the local host sees it; tests hand in a manual clock to drive timer triggers without sleeping. */
export interface HostClock {
  now(): Date;
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

export const systemClock: HostClock = {
  now: () => new Date(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, delayMs);
    // The HTTP server keeps the process alive; a pending timer trigger alone should not.
    timer.unref();
    return timer;
  },
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
