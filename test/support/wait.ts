import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Poll interval (default 20 ms). */
  intervalMs?: number;
  /** Says what was awaited when it times out. */
  description?: string;
}

/**
 * Polls `condition` until it returns a truthy value and resolves with it: tests wait for what they
 * need (a counter, a log line, a state), never for a fixed time. A condition that throws (a failed
 * `expect`, a process that exited) fails the wait at once: an assertion inside a poll is never
 * retried until it happens to pass. "Not yet" is a falsy return value.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${options.description ?? 'a condition'}`);
    }
    await delay(intervalMs);
  }
}
